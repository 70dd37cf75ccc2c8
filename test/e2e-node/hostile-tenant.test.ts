// A hostile tenant: a ServiceAccount that may edit workloads, pods, ConfigMaps and
// Secrets in one opted-in namespace, nothing more, against confighash installed in
// the cluster with reload in place. It tries what once stopped confighash or read
// Secrets: a rollout window of 12,000 windows, pods made by hand that pose as reload
// agents and print megabytes, a low-entropy Secret value reloaded in place (its hash
// was in the agent's logs), a trigger the agent cannot use, and a review sent
// straight to the webhook for a namespace that never opted in. Each gives its
// bounded outcome, and confighash keeps serving another tenant: admissions stamped,
// one rollout per change, no replica restarted, no change of leader.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { CONFIGHASH_IMAGE } from '../cluster/confighash-image.ts';
import { install, NAMESPACE, uninstall, webhookClientConfig } from '../cluster/in-cluster.ts';
import { NODE_TOLERATION } from '../cluster/node.ts';
import { serviceAccountKubeconfig } from '../support/install.ts';
import { confighashPods, leaderPod, namespace, runningDeployment, settled } from '../support/installed.ts';
import { eventsOf, getWorkload, templateAnnotations, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlStderr, waitFor } from '../support/kube.ts';
import { portForward } from '../support/port-forward.ts';
import { waitForRevisions } from '../support/rollouts.ts';
import { testappContainer, waitForRolledOut } from '../support/served.ts';
import { configMap } from '../support/workloads.ts';

const TENANT = 'hostile-tenant';
const VICTIM = 'hostile-victim';
const OUTSIDE = 'hostile-outside';
/** The canary: a low-entropy Secret value, and the one it is changed to (not hex: no digest contains it by chance). */
const PINS = ['PIN 4821', 'PIN 9377'];

/** A reload-in-place Deployment of testapp mounting the Secret `pin` (and a ConfigMap by env), one replica. */
function pinApp(): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'pin', annotations: { 'confighash.dev/reload': 'http://127.0.0.1:8080/-/reload' } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'pin' } },
      template: {
        metadata: { labels: { app: 'pin' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          tolerations: [NODE_TOLERATION],
          containers: [
            testappContainer(
              [{ name: 'CONFIG_ENV', valueFrom: { configMapKeyRef: { name: 'env', key: 'CONFIG_ENV' } } }],
              ['--reload-endpoint'],
            ),
          ],
          volumes: [{ name: 'config', secret: { secretName: 'pin', items: [{ key: 'pin', path: 'config' }] } }],
        },
      },
    },
  };
}

/** A pod made by hand, labelled as pinApp's and with a container named confighash-agent that prints `lines` lines of 1 MiB and a forged status. */
function forgedAgentPod(name: string, lines: number): object {
  const script =
    `const big = 'x'.repeat(1 << 20); for (let i = 0; i < ${lines}; i++) console.log(big);` +
    ` console.log(JSON.stringify({ msg: 'agent status', status: { state: 'failed', startedAt: new Date().toISOString(), lastAttempt: new Date(Date.now() + 3600e3).toISOString(), reloads: 0, lastError: '<users/all> [click](http://evil.example) ' + 'y'.repeat(100000) } }));` +
    ' setInterval(() => {}, 1 << 30);';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'pin' } },
    spec: {
      terminationGracePeriodSeconds: 0,
      tolerations: [NODE_TOLERATION],
      initContainers: [
        {
          name: 'confighash-agent',
          image: CONFIGHASH_IMAGE,
          imagePullPolicy: 'Never',
          restartPolicy: 'Always',
          command: ['/nodejs/bin/node', '-e', script],
        },
      ],
      containers: [
        {
          name: 'app',
          image: CONFIGHASH_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/nodejs/bin/node', '-e', 'setInterval(() => {}, 1 << 30)'],
        },
      ],
    },
  };
}

interface Baseline {
  restarts: Map<string, number>;
  leader: string;
}

async function baseline(): Promise<Baseline> {
  const pods = await confighashPods();
  return {
    restarts: new Map(pods.map((pod) => [pod.metadata.name, pod.status?.containerStatuses?.[0]?.restartCount ?? -1])),
    leader: await leaderPod(),
  };
}

/** POSTs `review` to one confighash pod's webhook port (through a port-forward); resolves with the AdmissionReview answered. */
async function sendReview(
  review: object,
): Promise<{ response?: { allowed?: boolean; patch?: string; warnings?: string[] } }> {
  const [pod] = await confighashPods();
  assert.ok(pod);
  const forward = await portForward(NAMESPACE, pod.metadata.name, 9443);
  try {
    const port = Number(new URL(forward.url).port);
    const body = JSON.stringify(review);
    return await new Promise((resolve, reject) => {
      // The serving certificate names the Service, not the loopback address the port-forward listens on.
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/mutate',
          method: 'POST',
          rejectUnauthorized: false,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => {
            resolve(JSON.parse(text) as { response?: object });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  } finally {
    forward.close();
  }
}

describe('a hostile tenant of one opted-in namespace', () => {
  let tenant: string;
  let before_: Baseline;
  const asTenant = (args: readonly string[], input?: string): Promise<string> =>
    kubectlStderr([`--kubeconfig=${tenant}`, ...args], input);

  before(async () => {
    await install('kustomize', { reloadInPlace: true });
    await namespace(TENANT);
    await namespace(VICTIM);
    await namespace(OUTSIDE, false);
    await kubectl(['create', 'serviceaccount', 'tenant', '-n', TENANT]);
    // What the built-in `edit` role grants of these (this control plane runs no role aggregation, which fills `edit` in).
    await kubectl([
      'create',
      'role',
      'tenant',
      '-n',
      TENANT,
      '--verb=get,list,watch,create,update,patch,delete',
      '--resource=deployments.apps,pods,configmaps,secrets',
    ]);
    await kubectl([
      'create',
      'rolebinding',
      'tenant',
      '-n',
      TENANT,
      '--role=tenant',
      `--serviceaccount=${TENANT}:tenant`,
    ]);
    tenant = await serviceAccountKubeconfig('1h', { namespace: TENANT, name: 'tenant' });
    before_ = await baseline();
  });
  after(async () => {
    for (const ns of [TENANT, VICTIM, OUTSIDE])
      await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
    await uninstall('kustomize', { reloadInPlace: true }).catch(() => undefined);
  });

  it('cannot freeze confighash with 12,000 rollout windows: refused at admission with a warning and a Warning Event, and the workload still rolls', async () => {
    const windows = Array.from({ length: 12_000 }, () => 'Sat 02:00-05:00').join(';');
    const deployment = runningDeployment('frozen', 'frozen') as { metadata: { annotations?: Record<string, string> } };
    deployment.metadata.annotations = { 'confighash.dev/rollout-window': windows };
    // create, not apply: apply would copy the annotation into last-applied-configuration, over the size limit.
    const warnings = await asTenant(
      ['create', '-n', TENANT, '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [configMap('frozen', { a: '1' }), deployment] }),
    );
    assert.match(
      warnings,
      /confighash\.dev\/rollout-window: \d+ characters, more than the 512 a schedule may have: ignored/,
    );
    assert.ok(warnings.length < 10_000, 'the warning does not repeat the annotation');
    await waitForEvents(TENANT, 'InvalidRolloutPolicy');
    await asTenant(['patch', 'configmap', 'frozen', '-n', TENANT, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(TENANT, 'Deployment', 'frozen', 2);
  });

  it('cannot use a trigger the agent would refuse: warned, no agent injected, and the pods start', async () => {
    const deployment = runningDeployment('hub', 'frozen') as { metadata: { annotations?: Record<string, string> } };
    deployment.metadata.annotations = { 'confighash.dev/reload': 'signal:SIGHUB' };
    const warnings = await asTenant(['apply', '-n', TENANT, '-f', '-'], JSON.stringify(deployment));
    assert.match(
      warnings,
      /not reloaded in place, every change rolls the workload: confighash\.dev\/reload must be signal:SIGNAME, a signal the program can catch/,
    );
    const spec = (await getWorkload(TENANT, 'Deployment', 'hub')) as unknown as {
      spec: { template: { spec: { initContainers?: unknown[] } } };
    };
    assert.equal(spec.spec.template.spec.initContainers, undefined);
    await kubectl(['rollout', 'status', 'deployment/hub', '-n', TENANT, '--timeout=120s']);
  });

  it('learns nothing of a Secret reloaded in place, and pods posing as agents (megabytes of log, a forged failure) neither count nor hurt', async () => {
    await asTenant(['create', 'secret', 'generic', 'pin', '-n', TENANT, `--from-literal=pin=${PINS[0] ?? ''}`]);
    await apply(TENANT, configMap('env', { CONFIG_ENV: 'one' }));
    await asTenant(['apply', '-n', TENANT, '-f', '-'], JSON.stringify(pinApp()));
    await waitForRolledOut(TENANT, 'Deployment', 'pin', 1);
    for (const name of ['forged-1', 'forged-2', 'forged-3'])
      await asTenant(['apply', '-n', TENANT, '-f', '-'], JSON.stringify(forgedAgentPod(name, 20)));
    await waitFor(
      'the forged pods to run and print',
      async () => {
        const phases = await kubectl([
          'get',
          'pods',
          '-n',
          TENANT,
          '-l',
          'app=pin',
          '-o',
          'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}',
        ]);
        return (
          phases.split('\n').filter((line) => line.startsWith('forged-') && line.endsWith('=Running')).length === 3 ||
          undefined
        );
      },
      120_000,
    );

    await asTenant([
      'patch',
      'secret',
      'pin',
      '-n',
      TENANT,
      '--type=merge',
      '-p',
      JSON.stringify({ stringData: { pin: PINS[1] } }),
    ]);
    const [reloaded] = await waitForEvents(TENANT, 'ConfigReloaded', 120_000);
    assert.match(
      reloaded?.message ?? '',
      /^Reloaded in place in 1 pod: secret\/pin/,
      "only the workload's own pod counted",
    );
    assert.deepEqual(await eventsOf(TENANT, 'ReloadFailed'), [], 'the forged failure did not count');

    const outputs: string[] = [];
    const ownPods = (
      await kubectl([
        'get',
        'pods',
        '-n',
        TENANT,
        '-l',
        'app=pin',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}',
      ])
    )
      .split('\n')
      .filter((name) => name.startsWith('pin-'));
    for (const pod of ownPods) outputs.push(await kubectl(['logs', '-n', TENANT, pod, '-c', 'confighash-agent']));
    for (const pod of await confighashPods()) {
      outputs.push(await kubectl(['logs', '-n', NAMESPACE, pod.metadata.name]));
      const forward = await portForward(NAMESPACE, pod.metadata.name, 8080);
      try {
        outputs.push(await (await fetch(`${forward.url}/metrics`)).text());
      } finally {
        forward.close();
      }
    }
    outputs.push(
      await kubectl(['get', 'events', '-n', TENANT, '-o', 'json']),
      await kubectl(['get', 'deployment', 'pin', '-n', TENANT, '-o', 'json']),
    );
    const everything = outputs.join('\n');
    assert.match(everything, /agent status/, "the agent's status lines were read");
    for (const pin of PINS) {
      const hash = createHash('sha256').update(pin).digest('hex');
      const hashOfHash = createHash('sha256').update(hash).digest('hex');
      for (const leak of [pin, hash.slice(0, 12), hashOfHash.slice(0, 12)])
        assert.equal(everything.includes(leak), false, `an output shows ${leak}`);
    }
  });

  it("cannot make the webhook read a Secret of a namespace that never opted in, even with Reloader's annotations", async () => {
    await kubectl(['create', 'secret', 'generic', 'db', '-n', OUTSIDE, '--from-literal=password=hunter2']);
    const deployment = runningDeployment('web', 'none') as {
      metadata: Record<string, unknown>;
      spec: { template: { spec: { containers: { envFrom?: unknown[] }[] } } };
    };
    deployment.metadata['annotations'] = { 'reloader.stakater.com/auto': 'true' };
    for (const container of deployment.spec.template.spec.containers)
      container.envFrom = [{ secretRef: { name: 'db' } }];
    const answer = await sendReview({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'direct',
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        resource: { group: 'apps', version: 'v1', resource: 'deployments' },
        operation: 'CREATE',
        namespace: OUTSIDE,
        name: 'web',
        object: deployment,
      },
    });
    assert.deepEqual(answer.response, { uid: 'direct', allowed: true }, 'answered unread: no stamp, no warning');
  });

  it('leaves confighash serving everyone else: admissions stamped, one rollout per change, no replica restarted, the same leader', async () => {
    await apply(VICTIM, configMap('app', { a: '1' }), runningDeployment('web', 'app'));
    assert.match(
      templateAnnotations(await getWorkload(VICTIM, 'Deployment', 'web'))['confighash.dev/checksum'] ?? '',
      /^v\d:/,
      'stamped at admission',
    );
    assert.deepEqual(await settled(VICTIM, ['web']), [1]);
    await kubectl(['patch', 'configmap', 'app', '-n', VICTIM, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(VICTIM, 'Deployment', 'web', 2);
    assert.deepEqual(await settled(VICTIM, ['web']), [2]);
    const now = await baseline();
    assert.deepEqual(now.restarts, before_.restarts, 'no replica restarted or was replaced');
    assert.equal(now.leader, before_.leader);
    assert.ok(await webhookClientConfig());
  });
});
