// The controller across its own restarts, a change of leader, and a restart of
// kube-apiserver: level-based, so it neither misses a change nor rolls twice.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { type ConfighashProcess, metricValue, startConfighash, startConfighashForTest } from '../support/confighash.ts';
import { restartApiserver } from '../support/control-plane.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions, waitForIdle, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const APP = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] });

async function editApp(ns: string, value: string): Promise<void> {
  await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', JSON.stringify({ data: { value } })]);
}

/** Starts confighash and waits until it has reconciled every workload once since starting. */
async function startAndSettle(t: TestContext, args: string[] = []): Promise<ConfighashProcess> {
  const confighash = await startConfighashForTest(t, args);
  await waitFor(
    'the first reconcile pass',
    async () =>
      (await metricValue(confighash.metricsUrl, 'confighash_reconcile_total{result="current"}')) > 0 || undefined,
  );
  await waitForIdle(confighash.metricsUrl);
  return confighash;
}

describe('controller lifecycle', () => {
  it('rolls a change made while it was down once after it starts; a restart with nothing changed rolls nothing', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const first = await startConfighashForTest(t);
    await apply(ns, configMap('app', { value: '1' }), APP);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', first.metricsUrl), 1);
    await first.stop();

    await editApp(ns, '2');
    const second = await startAndSettle(t);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', second.metricsUrl), 2);
    await second.stop();

    const third = await startAndSettle(t);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', third.metricsUrl), 2);
    assert.equal(await metricValue(third.metricsUrl, 'confighash_rollouts_total'), 0);
  });

  it('adopts a Deployment created while it was down without a new ReplicaSet, and rolls it on its next change', async (t) => {
    const down = await startConfighashForTest(t);
    await down.stop();
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { value: '1' }), APP);
    assert.deepEqual(templateAnnotations(await getWorkload(ns, 'Deployment', 'web')), {});

    const confighash = await startAndSettle(t);
    const adopted = await getWorkload(ns, 'Deployment', 'web');
    // The stamp the template would carry, recorded in the workload's metadata: checksum, then sources.
    assert.match(
      adopted.metadata.annotations?.['confighash.dev/baseline'] ?? '',
      /^v2:[0-9a-f]{8}:[0-9a-f]{64} configmap\/app=[0-9a-f]{12}$/,
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await editApp(ns, '2');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
  });

  it('hands over to another replica when the leader is killed; the next change rolls exactly once', async (t) => {
    const replicas = [
      await startConfighash(['--leader-elect', '--coalesce-window=1s']),
      await startConfighash(['--leader-elect', '--coalesce-window=1s']),
    ];
    t.after(() => Promise.all(replicas.map((r) => r.cleanup())));
    const isLeader = async (r: ConfighashProcess): Promise<boolean> =>
      (await metricValue(r.metricsUrl, 'confighash_leader')) === 1;
    const leader = await waitFor('a leader', async () => {
      const leading = [];
      for (const replica of replicas) if (await isLeader(replica)) leading.push(replica);
      assert.ok(leading.length <= 1, 'two leaders at once');
      return leading[0];
    });
    const follower = replicas.find((r) => r !== leader) as ConfighashProcess;

    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { value: '1' }), APP);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', leader.metricsUrl), 1);

    await leader.kill();
    await editApp(ns, '2');
    await waitFor('the follower to take over', async () => (await isLeader(follower)) || undefined, 60_000);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', follower.metricsUrl), 2);
  });

  it('keeps working across a kube-apiserver restart: the next change rolls exactly once', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=1s']);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { value: '1' }), APP);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await restartApiserver();
    await waitFor(
      'confighash to be ready again',
      async () => (await fetch(`${confighash.metricsUrl}/readyz`)).ok || undefined,
      60_000,
    );
    await editApp(ns, '2');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
  });
});
