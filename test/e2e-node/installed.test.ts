// confighash as users run it: installed in the cluster from its image, with
// `kubectl apply -k` (manifests/overlays/local: the base with the local image,
// never pulled, and the node's toleration) and with `helm install`, two replicas on
// the real node with their ServiceAccount's in-cluster credentials, the webhook
// reached by the API server through its Service with the CA confighash manages,
// leader election between the two pods, a restart and an upgrade of confighash
// itself, and what an uninstall leaves. Workloads here run (the node's pause image),
// so that a rollout completes as in a real cluster.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONFIGHASH_IMAGE } from '../cluster/confighash-image.ts';
import {
  CHART,
  install,
  localChartValues,
  NAMESPACE,
  uninstall,
  waitServing,
  webhookClientConfig,
} from '../cluster/in-cluster.ts';
import { imageRuntime } from '../support/dockerfile.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, run, waitFor } from '../support/kube.ts';
import { waitForRevisions } from '../support/rollouts.ts';
import {
  confighashPods,
  leaderPod,
  namespace,
  POD_SELECTOR,
  runningDeployment,
  settled,
} from '../support/installed.ts';
import { configMap, type ObjectList } from '../support/workloads.ts';

const CHECKSUM = 'confighash.dev/checksum';
const execFileAsync = promisify(execFile);
/** The admission webhook's calls, as the API server counts them. */
const WEBHOOK_CALLS =
  /^apiserver_admission_webhook_request_total\{[^}]*name="workloads\.confighash\.dev"[^}]*\} (\d+)$/gm;

/** How often the API server has called confighash's webhook, over all its answers. */
async function webhookCalls(): Promise<number> {
  const metrics = await kubectl(['get', '--raw', '/metrics']);
  return [...metrics.matchAll(WEBHOOK_CALLS)].reduce((sum, match) => sum + Number(match[1]), 0);
}

/** What must hold after an uninstall: nothing of confighash answers or is left, and workloads are admitted without it. */
async function assertUninstalled(ns: string): Promise<void> {
  assert.equal(await webhookClientConfig(), undefined, 'no webhook configuration is left');
  assert.equal((await kubectl(['get', 'clusterrole,clusterrolebinding', '-l', POD_SELECTOR, '-o', 'name'])).trim(), '');
  const secrets = await kubectl([
    'get',
    'secrets',
    '-A',
    '-o',
    'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}',
  ]);
  assert.deepEqual(
    secrets.split('\n').filter((line) => line.includes('confighash')),
    [],
    'no Secret of confighash is left',
  );
  const calls = await webhookCalls();
  await apply(ns, configMap('after', { a: '1' }), runningDeployment('after-uninstall', 'after'));
  assert.equal(
    templateAnnotations(await getWorkload(ns, 'Deployment', 'after-uninstall'))[CHECKSUM],
    undefined,
    'admitted unstamped',
  );
  assert.equal(await webhookCalls(), calls, 'the API server called no webhook');
}

describe('confighash installed with kubectl apply -k (manifests/overlays/local)', () => {
  const namespaces: string[] = [];
  const ns = async (name: string, optedIn = true): Promise<string> => {
    namespaces.push(await namespace(`installed-${name}`, optedIn));
    return `installed-${name}`;
  };
  before(() => install('kustomize'));
  after(async () => {
    await uninstall('kustomize').catch(() => undefined);
    for (const name of namespaces) await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
  });

  it('reads no pod and no log without reload in place: kubectl auth can-i answers no, kube-system included', async () => {
    const as = '--as=system:serviceaccount:confighash-system:confighash';
    for (const [verb, resource, namespace] of [
      ['get', 'pods/log', 'kube-system'],
      ['get', 'pods/log', 'default'],
      ['list', 'pods', 'kube-system'],
    ] as const) {
      // `can-i` prints yes or no, and exits 1 on no.
      const answer = await execFileAsync('kubectl', ['auth', 'can-i', verb, resource, '-n', namespace, as]).then(
        ({ stdout }) => stdout,
        (error: unknown) => (error as { stdout?: string }).stdout ?? '',
      );
      assert.equal(answer.trim(), 'no', `${verb} ${resource} -n ${namespace}`);
    }
  });

  it('runs two Ready replicas; the API server reaches the webhook through the Service with the CA confighash manages; a labelled namespace is stamped', async () => {
    const pods = await confighashPods();
    assert.equal(pods.length, 2);
    for (const pod of pods)
      assert.ok(
        pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        `${pod.metadata.name} is Ready`,
      );
    const client = await webhookClientConfig();
    assert.ok(client);
    assert.equal(client.url, undefined, 'registered by Service, not by URL');
    assert.deepEqual(client.service, { name: 'confighash', namespace: NAMESPACE, path: '/mutate', port: 443 });
    const tls = await kubectlJson<{ data: Record<string, string> }>([
      'get',
      'secret',
      'confighash-webhook-tls',
      '-n',
      NAMESPACE,
    ]);
    const bundle = Buffer.from(client.caBundle ?? '', 'base64').toString();
    assert.match(bundle, /^-----BEGIN CERTIFICATE-----/);
    assert.ok(
      Object.values(tls.data).some((value) => Buffer.from(value, 'base64').toString().trim() === bundle.trim()),
      'the caBundle is the CA in confighash-webhook-tls',
    );
    // The disruption controller reports on its own schedule: wait for it to count both pods.
    await waitFor('the PodDisruptionBudget to count two healthy pods and allow one disruption', async () => {
      const pdb = await kubectlJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>([
        'get',
        'pdb',
        'confighash',
        '-n',
        NAMESPACE,
      ]);
      return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 1 ? true : undefined;
    });

    const app = await ns('stamped');
    const calls = await webhookCalls();
    await apply(app, configMap('app', { a: '1' }), runningDeployment('web', 'app'));
    assert.match(
      templateAnnotations(await getWorkload(app, 'Deployment', 'web'))[CHECKSUM] ?? '',
      /^v2:[0-9a-f]{8}:[0-9a-f]{64}$/,
      'stamped at admission',
    );
    assert.ok((await webhookCalls()) > calls, 'by the webhook, called by the API server');
  });

  it('a consumed key changes: exactly one rollout', async () => {
    const app = await ns('one-change');
    await apply(app, configMap('app', { a: '1' }), runningDeployment('web', 'app'));
    assert.deepEqual(await settled(app, ['web']), [1]);
    await kubectl(['patch', 'configmap', 'app', '-n', app, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(app, 'Deployment', 'web', 2);
    assert.deepEqual(await settled(app, ['web']), [2]);
  });

  it('the leader pod force-deleted mid fan-out to 20 Deployments: each rolls exactly once, and Deployments created meanwhile are stamped', async () => {
    const app = await ns('failover');
    const names = Array.from({ length: 20 }, (_, i) => `web-${i}`);
    await apply(app, configMap('shared', { a: '1' }), ...names.map((name) => runningDeployment(name, 'shared')));
    assert.deepEqual(
      await settled(app, names),
      names.map(() => 1),
    );
    const leader = await leaderPod();
    await kubectl(['patch', 'configmap', 'shared', '-n', app, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await kubectl(['delete', 'pod', leader, '-n', NAMESPACE, '--force', '--grace-period=0']);
    // Admitted by the other replica while the leader is gone and its replacement starts.
    const late = ['late-0', 'late-1', 'late-2'];
    for (const name of late) {
      await apply(app, runningDeployment(name, 'shared'));
      assert.ok(
        templateAnnotations(await getWorkload(app, 'Deployment', name))[CHECKSUM],
        `${name} is stamped during the failover`,
      );
    }
    for (const name of names) await waitForRevisions(app, 'Deployment', name, { count: 2, timeoutMs: 120_000 });
    assert.notEqual(await leaderPod(), leader, 'another pod leads');
    assert.deepEqual(
      await settled(app, [...names, ...late]),
      [...names.map(() => 2), ...late.map(() => 1)],
      'each rolled exactly once; those created with the new value none',
    );
  });

  it('kubectl rollout restart of confighash itself (within its PodDisruptionBudget) rolls no workload', async () => {
    const app = await ns('restart');
    const names = ['web-0', 'web-1', 'web-2'];
    await apply(app, configMap('app', { a: '1' }), ...names.map((name) => runningDeployment(name, 'app')));
    assert.deepEqual(await settled(app, names), [1, 1, 1]);
    const before = new Set((await confighashPods()).map((pod) => pod.metadata.name));
    await kubectl(['rollout', 'restart', 'deployment/confighash', '-n', NAMESPACE]);
    await waitServing();
    const pods = await confighashPods();
    assert.equal(pods.length, 2);
    assert.ok(
      pods.every((pod) => !before.has(pod.metadata.name)),
      'both pods were replaced',
    );
    assert.deepEqual(await settled(app, names), [1, 1, 1]);
  });

  it('the image runs as shipped: its user, entrypoint and environment, on a read-only root', async () => {
    const { nodeArgs, env } = await imageRuntime();
    const pods = await kubectlJson<
      ObjectList<{
        spec: { containers: { image: string; securityContext: { readOnlyRootFilesystem?: boolean } }[] };
        status: { containerStatuses: { restartCount: number }[] };
      }>
    >(['get', 'pods', '-n', NAMESPACE, '-l', POD_SELECTOR]);
    for (const pod of pods.items) {
      const [container] = pod.spec.containers;
      assert.equal(container?.image, CONFIGHASH_IMAGE);
      assert.equal(container.securityContext.readOnlyRootFilesystem, true);
      assert.equal(pod.status.containerStatuses[0]?.restartCount, 0, 'never restarted');
    }
    // The node is this host: its confighash processes, as the kubelet started them.
    const processes = await processesRunning('/app/dist/cli/main.js');
    assert.equal(processes.length, 2);
    for (const { cmdline, uid, environ } of processes) {
      assert.deepEqual(cmdline, ['/nodejs/bin/node', ...nodeArgs, '/app/dist/cli/main.js', 'run', '--leader-elect']);
      assert.equal(uid, '65532');
      for (const [name, value] of Object.entries(env))
        assert.ok(environ.includes(`${name}=${value}`), `${name}=${value} is set`);
    }
    for (const pod of (await confighashPods()).map((p) => p.metadata.name)) {
      assert.doesNotMatch(await kubectl(['logs', '-n', NAMESPACE, pod]), /EROFS|read-only file system/i);
    }
  });

  it('kubectl delete -k leaves no webhook configuration and no Secret, and what was stamped keeps its annotations', async () => {
    const app = await ns('uninstalled');
    await apply(app, configMap('app', { a: '1' }), runningDeployment('web', 'app'));
    assert.ok(templateAnnotations(await getWorkload(app, 'Deployment', 'web'))[CHECKSUM]);
    await uninstall('kustomize');
    await assertUninstalled(app);
    assert.ok(
      templateAnnotations(await getWorkload(app, 'Deployment', 'web'))[CHECKSUM],
      'annotations stay on workloads (docs/install.md)',
    );
  });
});

describe('confighash installed with helm install, upgraded, uninstalled', () => {
  const namespaces: string[] = [];
  before(() => install('helm'));
  after(async () => {
    await run('helm', ['uninstall', 'confighash', '--namespace', NAMESPACE, '--wait']).catch(() => undefined);
    await kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found']);
    for (const name of namespaces) await kubectl(['delete', 'namespace', name, '--wait=false', '--ignore-not-found']);
  });

  it('helm upgrade with a changed value replaces the pods and rolls no workload; uninstalling as docs/install.md says leaves nothing', async () => {
    const app = await namespace('installed-helm');
    namespaces.push(app);
    await apply(app, configMap('app', { a: '1' }), runningDeployment('web', 'app'));
    assert.deepEqual(await settled(app, ['web']), [1]);
    const before = new Set((await confighashPods()).map((pod) => pod.metadata.name));
    await run('helm', [
      'upgrade',
      'confighash',
      CHART,
      '--namespace',
      NAMESPACE,
      ...localChartValues(),
      '--set',
      'extraArgs={--coalesce-window=1s}',
    ]);
    await waitServing();
    const pods = await confighashPods();
    assert.equal(pods.length, 2);
    assert.deepEqual(
      pods.filter((pod) => before.has(pod.metadata.name)).map((pod) => pod.metadata.name),
      [],
      'the upgrade replaced both pods',
    );
    const args = await kubectl([
      'get',
      'deployment',
      'confighash',
      '-n',
      NAMESPACE,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].args}',
    ]);
    assert.match(args, /--coalesce-window=1s/);
    assert.deepEqual(await settled(app, ['web']), [1], 'the upgrade rolled no workload');
    await kubectl(['patch', 'configmap', 'app', '-n', app, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(app, 'Deployment', 'web', 2);
    assert.deepEqual(await settled(app, ['web']), [2], 'the upgraded install rolls a change once');

    await run('helm', ['uninstall', 'confighash', '--namespace', NAMESPACE, '--wait']);
    await kubectl(['delete', 'namespace', NAMESPACE]);
    await assertUninstalled(app);
  });
});

/** Host processes whose command line holds `text`: argv, real uid and environment. */
async function processesRunning(text: string): Promise<{ cmdline: string[]; uid: string; environ: string[] }[]> {
  const found = [];
  for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
    const cmdline = (await readFile(join('/proc', pid, 'cmdline'), 'utf8').catch(() => '')).split('\0').filter(Boolean);
    if (!cmdline.includes(text)) continue;
    const status = await readFile(join('/proc', pid, 'status'), 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1] ?? '';
    const environ = (await readFile(join('/proc', pid, 'environ'), 'utf8')).split('\0');
    found.push({ cmdline, uid, environ });
  }
  return found;
}
