// The restart controller on the local control plane (confighash running with
// --webhook-url): exactly one rollout per effective change, none otherwise.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ConfighashProcess, metricValue, startConfighash } from '../support/confighash.ts';
import { getWorkload, templateAnnotations, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { barrier, settledRevisions, waitForIdle, waitForRevisions } from '../support/rollouts.ts';
import { configMap, type ObjectList, secret, workload, type WorkloadKind } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const SOURCES = 'confighash.dev/sources';

describe('controller', () => {
  let confighash: ConfighashProcess;
  before(async () => {
    confighash = await startConfighash(['--coalesce-window=2s', '--rollout-rate=2', '--rollout-burst=10']);
  });
  after(() => confighash.cleanup());

  /** The workload's revisions, once everything has settled. */
  function settled(ns: string, kind: WorkloadKind, name: string): Promise<number> {
    return settledRevisions(ns, kind, name, confighash.metricsUrl);
  }

  /** Waits for one more revision, then checks that it stays exactly one more. */
  async function assertRolledOnce(
    ns: string,
    kind: WorkloadKind,
    name: string,
    revisionsBefore: number,
  ): Promise<void> {
    await waitForRevisions(ns, kind, name, revisionsBefore + 1);
    assert.equal(await settled(ns, kind, name), revisionsBefore + 1, 'rolled more than once');
  }

  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
    it(`rolls a ${kind} exactly once when a consumed ConfigMap key changes`, async (t) => {
      const ns = await testNamespace(t, ENABLED);
      await apply(
        ns,
        configMap('app', { LOG_LEVEL: 'info' }),
        workload(kind, 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
      );
      assert.equal(await settled(ns, kind, 'web'), 1);
      const sourcesBefore = templateAnnotations(await getWorkload(ns, kind, 'web'))[SOURCES];

      await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"LOG_LEVEL":"debug"}}']);
      await assertRolledOnce(ns, kind, 'web', 1);

      const sourcesAfter = templateAnnotations(await getWorkload(ns, kind, 'web'))[SOURCES];
      assert.match(sourcesAfter ?? '', /^configmap\/app=[0-9a-f]{12}$/);
      assert.notEqual(sourcesAfter, sourcesBefore);
    });
  }

  it('rolls a Deployment exactly once when a consumed Secret key changes, and says why in an Event', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const manifest = workload('Deployment', 'web', {
      env: [{ name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
    });
    await apply(ns, secret('db', { password: 'first-password' }), manifest);
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    await kubectl([
      'patch',
      'secret',
      'db',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"stringData":{"password":"second-password"}}',
    ]);
    await assertRolledOnce(ns, 'Deployment', 'web', 1);

    const event = (await waitForEvents(ns, 'ConfigChanged')).find((e) => e.involvedObject.name === 'web');
    assert.match(
      event?.message ?? '',
      /^Rolling out: configuration changed: secret\/db \([0-9a-f]{12} → [0-9a-f]{12}: keys password\)$/,
      'the key named, never its value',
    );
    assert.equal(
      confighash.logs.some((line) => /first-password|second-password/.test(line)),
      false,
    );
  });

  it('rolls nothing for an unconsumed key, or for labels and annotations of a source', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    await apply(
      ns,
      configMap('keyed', { USED: '1', UNUSED: '1' }),
      configMap('files', { 'used.yaml': 'a: 1', 'unused.yaml': 'b: 1' }),
      workload(
        'Deployment',
        'web',
        { env: [{ name: 'USED', valueFrom: { configMapKeyRef: { name: 'keyed', key: 'USED' } } }] },
        {
          volumes: [{ name: 'files', configMap: { name: 'files', items: [{ key: 'used.yaml', path: 'used.yaml' }] } }],
        },
      ),
    );
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    await kubectl(['patch', 'configmap', 'keyed', '-n', ns, '--type=merge', '-p', '{"data":{"UNUSED":"2"}}']);
    await kubectl(['patch', 'configmap', 'files', '-n', ns, '--type=merge', '-p', '{"data":{"unused.yaml":"b: 2"}}']);
    await kubectl(['label', 'configmap', 'keyed', '-n', ns, 'team=payments']);
    await kubectl(['annotate', 'configmap', 'files', '-n', ns, 'note=hello']);
    await barrier(ns, 'configmap', confighash.metricsUrl);

    assert.equal(await settled(ns, 'Deployment', 'web'), 1);
  });

  it('rolls once for five edits inside the coalescing window', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    await apply(
      ns,
      configMap('app', { n: '0' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    for (let n = 1; n <= 5; n++) {
      await kubectl([
        'patch',
        'configmap',
        'app',
        '-n',
        ns,
        '--type=merge',
        '-p',
        JSON.stringify({ data: { n: String(n) } }),
      ]);
    }
    await assertRolledOnce(ns, 'Deployment', 'web', 1);
  });

  it('rolls each of 50 Deployments sharing a ConfigMap exactly once, within the rate limit', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const names = Array.from({ length: 50 }, (_, i) => `web-${i}`);
    await apply(
      ns,
      configMap('shared', { v: '1' }),
      ...names.map((name) => workload('Deployment', name, { envFrom: [{ configMapRef: { name: 'shared' } }] })),
    );
    const replicaSets = (): Promise<number> =>
      kubectlJson<ObjectList<unknown>>(['get', 'replicasets', '-n', ns]).then((list) => list.items.length);
    // A Deployment whose template changes before its first ReplicaSet exists never gets that one.
    await waitFor('the first 50 ReplicaSets', async () => (await replicaSets()) >= 50 || undefined, 60_000);
    await waitForIdle(confighash.metricsUrl);
    const limited = await metricValue(
      confighash.metricsUrl,
      'confighash_rollouts_suppressed_total{reason="rate_limit"}',
    );

    await kubectl(['patch', 'configmap', 'shared', '-n', ns, '--type=merge', '-p', '{"data":{"v":"2"}}']);
    await waitFor('all 50 Deployments to roll', async () => (await replicaSets()) >= 100 || undefined, 60_000);
    await waitForIdle(confighash.metricsUrl);
    for (const name of names) assert.equal(await settled(ns, 'Deployment', name), 2, name);
    assert.equal(await replicaSets(), 100);
    const limitedAfter = await metricValue(
      confighash.metricsUrl,
      'confighash_rollouts_suppressed_total{reason="rate_limit"}',
    );
    assert.ok(limitedAfter > limited, 'the rate limit held some rollouts back');
  });

  it('records missing sources, warns, and rolls once when the source appears', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'late' } }] }));
    assert.equal(templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[SOURCES], 'configmap/late=missing');
    await waitFor('a MissingSource Warning event', async () => {
      const events = await kubectlJson<ObjectList<{ type: string; message: string }>>([
        'get',
        'events',
        '-n',
        ns,
        '--field-selector',
        'reason=MissingSource',
      ]);
      return (
        events.items.some((e) => e.type === 'Warning' && e.message.startsWith('configmap/late does not exist')) ||
        undefined
      );
    });
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    await apply(ns, configMap('late', { a: '1' }));
    await assertRolledOnce(ns, 'Deployment', 'web', 1);
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[SOURCES] ?? '',
      /^configmap\/late=[0-9a-f]{12}$/,
    );
  });

  it('adopts the workloads of a namespace labelled later without rolling them, and rolls them on the next change', async (t) => {
    const ns = await testNamespace(t);
    await apply(
      ns,
      configMap('app', { a: '1' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    await kubectl(['label', 'namespace', ns, 'confighash.dev/enabled=true']);
    const adopted = await waitFor('the Deployment to be adopted', async () => {
      const object = await getWorkload(ns, 'Deployment', 'web');
      return object.metadata.annotations?.['confighash.dev/baseline'];
    });
    assert.match(adopted, /^v2:[0-9a-f]{8}:[0-9a-f]{64} configmap\/app=[0-9a-f]{12}$/);
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);

    await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await assertRolledOnce(ns, 'Deployment', 'web', 1);
    const rolled = await getWorkload(ns, 'Deployment', 'web');
    assert.equal(rolled.metadata.annotations?.['confighash.dev/baseline'], undefined);
    assert.match(templateAnnotations(rolled)[SOURCES] ?? '', /^configmap\/app=[0-9a-f]{12}$/);
  });

  it('does not roll an adopted workload when only its replicas change', async (t) => {
    const ns = await testNamespace(t);
    await apply(
      ns,
      configMap('app', { a: '1' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    await kubectl(['label', 'namespace', ns, 'confighash.dev/enabled=true']);
    await waitFor(
      'the Deployment to be adopted',
      async () => (await getWorkload(ns, 'Deployment', 'web')).metadata.annotations?.['confighash.dev/baseline'],
    );
    await kubectl(['scale', 'deployment', 'web', '-n', ns, '--replicas=3']);
    assert.equal(await settled(ns, 'Deployment', 'web'), 1);
    assert.deepEqual(templateAnnotations(await getWorkload(ns, 'Deployment', 'web')), {});
  });
});
