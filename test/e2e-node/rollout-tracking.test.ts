// Rollouts followed to the end, on a real node: confighash reports RolloutComplete
// once its rollout's pods are all available, and by default a second change made
// while that rollout is under way waits for it, then rolls once. A leader that
// dies mid-rollout leaves the next one to tell its end, once, in an Event and a
// notification.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NODE_TOLERATION } from '../cluster/node.ts';
import { type ConfighashProcess, metricValue, startConfighashForTest } from '../support/confighash.ts';
import { eventsOf, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configureNotifications, notificationCount } from '../support/notifications.ts';
import { startReceiver } from '../support/receiver.ts';
import { pods, served, testappContainer, waitForRolledOut } from '../support/served.ts';

const REPLICAS = 2;

/** testapp reading CONFIG_ENV from configmap/app; each new pod takes `readyAfter` seconds to be ready. */
function app(readyAfter = 3): object {
  const container = testappContainer([
    { name: 'CONFIG_ENV', valueFrom: { configMapKeyRef: { name: 'app', key: 'CONFIG_ENV' } } },
  ]) as { readinessProbe: Record<string, unknown> };
  container.readinessProbe['initialDelaySeconds'] = readyAfter;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          tolerations: [NODE_TOLERATION],
          containers: [container],
          volumes: [{ name: 'config', configMap: { name: 'app', optional: true } }],
        },
      },
    },
  };
}

const change = (ns: string, value: string): Promise<string> =>
  kubectl([
    'patch',
    'configmap',
    'app',
    '-n',
    ns,
    '--type=merge',
    '-p',
    JSON.stringify({ data: { CONFIG_ENV: value } }),
  ]);

describe('rollouts followed to the end', () => {
  it('reports RolloutComplete, and holds a second change until the first rollout is complete', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0', '--wait-for-rollout=true']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(
      ns,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { CONFIG_ENV: 'one' } },
      app(),
    );
    await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);

    await change(ns, 'two');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    await change(ns, 'three');
    const [held] = await waitForEvents(ns, 'RolloutDeferred');
    assert.match(held?.message ?? '', /^Not rolling out yet: waiting for the previous rollout \(\d\/2 updated\)$/);

    await waitForRevisions(ns, 'Deployment', 'web', { count: 3, timeoutMs: 90_000 });
    await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      3,
      'one rollout for the held change',
    );
    const complete = await waitFor(
      'two RolloutComplete Events',
      async () => {
        const found = await eventsOf(ns, 'RolloutComplete');
        return found.length === 2 ? found : undefined;
      },
      60_000,
    );
    for (const event of complete)
      assert.match(event.message, /^Rolled out configuration v2:[0-9a-f]{8}:[0-9a-f]{12} in \d+s$/);
    for (const pod of await pods(ns, 'web')) assert.equal((await served(ns, pod.metadata.name)).env, 'three');
  });

  it('tells a rollout complete once, in an Event and a notification, when the leader that started it dies before it completes', async (t) => {
    const receiver = await startReceiver(t);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await configureNotifications(t, [{ name: 'automation', type: 'cloudevents', url: receiver.url, namespaces: [ns] }]);
    // The only confighash running: the two replicas, one leading.
    const replicas = [
      await startConfighashForTest(t, ['--coalesce-window=0', '--leader-elect']),
      await startConfighashForTest(t, ['--coalesce-window=0', '--leader-elect']),
    ];
    const leader = await waitFor('a leader', async () => {
      const leading: ConfighashProcess[] = [];
      for (const r of replicas) if ((await metricValue(r.metricsUrl, 'confighash_leader')) === 1) leading.push(r);
      return leading.length === 1 ? leading[0] : undefined;
    });
    await apply(
      ns,
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: { CONFIG_ENV: 'one' } },
      app(10),
    );
    await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
    await change(ns, 'two');
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    await receiver.received(1);
    // The new pods take ten seconds to be ready: the leader dies while its rollout is under way.
    await leader.kill();
    assert.deepEqual(await eventsOf(ns, 'RolloutComplete'), [], 'complete before the leader died');
    const follower = replicas.find((r) => r !== leader);
    assert.ok(follower);
    await waitFor(
      'the other replica to lead',
      async () => (await metricValue(follower.metricsUrl, 'confighash_leader')) === 1 || undefined,
      60_000,
    );
    await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
    const [complete] = await waitForEvents(ns, 'RolloutComplete', 60_000);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', follower.metricsUrl), 2);
    assert.equal((await eventsOf(ns, 'RolloutComplete')).length, 1);
    assert.equal(complete?.count ?? 1, 1, 'told once');
    await receiver.received(2);
    await waitFor(
      "the new leader's notifications to be sent",
      async () => (await notificationCount(follower.metricsUrl, 'automation', 'sent')) === 1 || undefined,
    );
    const told = receiver.requests.map((r) => r.json as { type: string; id: string });
    assert.deepEqual(
      told.map((e) => e.type),
      ['dev.confighash.rollout.started', 'dev.confighash.rollout.completed'],
      'each once, from one leader or the other',
    );
  });
});
