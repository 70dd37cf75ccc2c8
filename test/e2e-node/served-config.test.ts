// The user's outcome, on a real node: when a consumed key changes, the workload
// rolls exactly once, the rollout completes, and the running application serves
// the new value; an unconsumed key changes nothing, not even a pod.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ConfighashProcess, startConfighash } from '../support/confighash.ts';
import { apply, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { NODE_TOLERATION } from '../cluster/node.ts';
import { pods, served, testappContainer, waitForRolledOut } from '../support/served.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const REPLICAS = 2;

type Kind = 'Deployment' | 'StatefulSet';

/** A workload of 2 replicas whose app reads CONFIG_ENV from `source` by env, and its `config` key as a file. */
function app(kind: Kind, source: 'configmap' | 'secret'): object {
  const keyRef =
    source === 'configmap'
      ? { configMapKeyRef: { name: 'app', key: 'CONFIG_ENV' } }
      : { secretKeyRef: { name: 'app', key: 'CONFIG_ENV' } };
  const volume =
    source === 'configmap'
      ? { name: 'config', configMap: { name: 'app', items: [{ key: 'config', path: 'config' }] } }
      : { name: 'config', secret: { secretName: 'app', items: [{ key: 'config', path: 'config' }] } };
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name: 'web' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'web' } },
      ...(kind === 'StatefulSet' ? { serviceName: 'web', podManagementPolicy: 'Parallel' } : {}),
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          tolerations: [NODE_TOLERATION],
          containers: [testappContainer([{ name: 'CONFIG_ENV', valueFrom: keyRef }])],
          volumes: [volume],
        },
      },
    },
  };
}

function source(kind: 'configmap' | 'secret', data: Record<string, string>): object {
  return kind === 'configmap'
    ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data }
    : { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app' }, stringData: data };
}

async function servedByAll(ns: string): Promise<{ env: string; file: string }[]> {
  const running = await pods(ns, 'web');
  return Promise.all(
    running.map(async (pod) => {
      const { env, file } = await served(ns, pod.metadata.name);
      return { env, file };
    }),
  );
}

describe('configuration served by running pods', () => {
  let confighash: ConfighashProcess;
  before(async () => {
    confighash = await startConfighash(['--coalesce-window=500ms']);
  });
  after(() => confighash.cleanup());

  const cases: [Kind, 'configmap' | 'secret'][] = [
    ['Deployment', 'configmap'],
    ['Deployment', 'secret'],
    ['StatefulSet', 'configmap'],
  ];
  for (const [kind, kindOfSource] of cases) {
    it(`${kind} consuming a ${kindOfSource}: a consumed change rolls once and is served; an unconsumed one changes nothing`, async (t) => {
      const ns = await testNamespace(t, ENABLED);
      await apply(
        ns,
        source(kindOfSource, { CONFIG_ENV: 'one', config: 'file-one', UNUSED: 'a' }),
        app(kind, kindOfSource),
      );
      await waitForRolledOut(ns, kind, 'web', REPLICAS);
      assert.equal(await settledRevisions(ns, kind, 'web', confighash.metricsUrl), 1);
      assert.deepEqual(await servedByAll(ns), [
        { env: 'one', file: 'file-one' },
        { env: 'one', file: 'file-one' },
      ]);

      // An unconsumed key: no rollout, the very same pods.
      const podsBefore = (await pods(ns, 'web')).map((p) => p.metadata.uid).sort();
      await apply(ns, source(kindOfSource, { CONFIG_ENV: 'one', config: 'file-one', UNUSED: 'b' }));
      assert.equal(await settledRevisions(ns, kind, 'web', confighash.metricsUrl), 1);
      assert.deepEqual((await pods(ns, 'web')).map((p) => p.metadata.uid).sort(), podsBefore);

      // The consumed keys: one rollout, completed, and the new values served by every pod.
      await apply(ns, source(kindOfSource, { CONFIG_ENV: 'two', config: 'file-two', UNUSED: 'b' }));
      await waitForRevisions(ns, kind, 'web', 2);
      const rolled = await waitForRolledOut(ns, kind, 'web', REPLICAS);
      assert.equal(await settledRevisions(ns, kind, 'web', confighash.metricsUrl), 2, 'rolled more than once');
      assert.ok(
        rolled.every((p) => !podsBefore.includes(p.metadata.uid)),
        'an old pod is still running',
      );
      assert.deepEqual(await servedByAll(ns), [
        { env: 'two', file: 'file-two' },
        { env: 'two', file: 'file-two' },
      ]);
    });
  }
});
