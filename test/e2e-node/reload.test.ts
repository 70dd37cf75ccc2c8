// Reload in place, on a real node: a workload with confighash.dev/reload gets the
// agent; a change of the file it mounts is served by the very same container
// (same pod UID, no restart, no new ReplicaSet), reloaded by SIGHUP or by a POST
// to the app's reload endpoint; a change of an env key still rolls, once; a
// reload that fails is reported, and with reload-fallback: rollout rolls once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NODE_TOLERATION } from '../cluster/node.ts';
import type { WorkloadReport } from '../../src/cli/inspect.ts';
import { CONFIGHASH_NAMESPACE, type ConfighashProcess, confighashCli, startConfighash } from '../support/confighash.ts';
import { waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { type Pod, pods, served, testappContainer, waitForRolledOut } from '../support/served.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const REPLICAS = 2;

/** testapp reading CONFIG_ENV by env and its `config` key as a file, with the reload strategy `trigger`. */
function app(trigger: string, appArgs: string[], annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', annotations: { 'confighash.dev/reload': trigger, ...annotations } },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          // The agent signals the app as the app's own user.
          securityContext: { runAsUser: 1000, runAsGroup: 1000 },
          terminationGracePeriodSeconds: 1,
          tolerations: [NODE_TOLERATION],
          containers: [
            testappContainer(
              [{ name: 'CONFIG_ENV', valueFrom: { configMapKeyRef: { name: 'app', key: 'CONFIG_ENV' } } }],
              appArgs,
            ),
          ],
          volumes: [{ name: 'config', configMap: { name: 'app', items: [{ key: 'config', path: 'config' }] } }],
        },
      },
    },
  };
}

const source = (data: Record<string, string>): object => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'app' },
  data,
});

interface Running {
  uid: string;
  restarts: number;
}

/** Each pod's UID and its app container's restarts, by name. */
function running(list: readonly Pod[]): Map<string, Running> {
  return new Map(
    list.map((p) => [
      p.metadata.name,
      { uid: p.metadata.uid, restarts: p.status?.containerStatuses?.find((c) => c.name === 'app')?.restartCount ?? -1 },
    ]),
  );
}

/** Waits until every pod serves `file`; returns the pods as they are then (or, failing, says what their agents said). */
async function servedEverywhere(ns: string, file: string): Promise<Pod[]> {
  return waitFor(
    `every pod to serve ${file}`,
    async () => {
      const list = await pods(ns, 'web');
      const files = await Promise.all(list.map(async (p) => (await served(ns, p.metadata.name)).file));
      return list.length === REPLICAS && files.every((f) => f === file) ? list : undefined;
    },
    90_000,
  ).catch(async (error: unknown) => {
    for (const pod of await pods(ns, 'web')) {
      const log = await kubectl(['logs', '-n', ns, pod.metadata.name, '-c', 'confighash-agent', '--tail=8']).catch(
        String,
      );
      process.stderr.write(`agent of ${pod.metadata.name}:\n${log}\n`);
    }
    throw error;
  });
}

describe('reload in place', () => {
  let confighash: ConfighashProcess;
  before(async () => {
    confighash = await startConfighash(['--coalesce-window=500ms', '--reload-timeout=60s']);
  });
  after(() => confighash.cleanup());

  for (const [trigger, appArgs] of [
    ['signal:SIGHUP', ['--reload-on-signal']],
    ['http://127.0.0.1:8080/-/reload', ['--reload-endpoint']],
  ] as const) {
    it(`${trigger}: a file change is served by the same containers; an env change rolls once`, async (t) => {
      const ns = await testNamespace(t, ENABLED);
      await apply(ns, source({ CONFIG_ENV: 'one', config: 'file-one' }), app(trigger, [...appArgs]));
      const first = running(await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS));
      const spec = await kubectlJson<{ spec: { template: { spec: { initContainers?: { name: string }[] } } } }>([
        'get',
        'deployment',
        'web',
        '-n',
        ns,
      ]);
      assert.deepEqual(
        spec.spec.template.spec.initContainers?.map((c) => c.name),
        ['confighash-agent'],
      );

      await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"config":"file-two"}}']);
      const after = running(await servedEverywhere(ns, 'file-two'));
      assert.deepEqual(after, first, 'the same pods, not restarted');
      for (const name of after.keys()) assert.ok((await served(ns, name)).reloads >= 1, `${name} reloaded`);
      const [reloaded] = await waitForEvents(ns, 'ConfigReloaded');
      assert.match(
        reloaded?.message ?? '',
        /^Reloaded in place in 2 pods: configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}\)$/,
      );
      const report = JSON.parse(
        await confighashCli([
          'explain',
          'deployment/web',
          '-n',
          ns,
          '-o',
          'json',
          `--confighash-namespace=${CONFIGHASH_NAMESPACE}`,
        ]),
      ) as WorkloadReport;
      assert.equal(report.state, 'reloaded');
      assert.deepEqual(
        report.sources.map((s) => [s.id, s.keys, s.delivery]),
        [
          ['configmap/app', ['CONFIG_ENV'], 'rollout'],
          ['configmap/app', ['config'], 'reload'],
        ],
      );
      assert.deepEqual(
        report.reload?.pods.map((p) => p.state),
        ['reloaded', 'reloaded'],
      );
      assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1, 'nothing rolled');

      await kubectl([
        'patch',
        'configmap',
        'app',
        '-n',
        ns,
        '--type=merge',
        '-p',
        '{"data":{"CONFIG_ENV":"two","config":"file-three"}}',
      ]);
      await waitForRevisions(ns, 'Deployment', 'web', 2);
      const rolled = await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
      assert.equal(
        await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
        2,
        'a change of both rolls once',
      );
      for (const pod of rolled)
        assert.deepEqual(await served(ns, pod.metadata.name).then(({ env, file }) => ({ env, file })), {
          env: 'two',
          file: 'file-three',
        });
    });
  }

  it('reports a reload that fails, and with reload-fallback: rollout rolls the workload once instead', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    // testapp without --reload-endpoint answers the POST 404: every reload fails.
    await apply(
      ns,
      source({ CONFIG_ENV: 'one', config: 'file-one' }),
      app('http://127.0.0.1:8080/-/reload', [], { 'confighash.dev/reload-fallback': 'rollout' }),
    );
    await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
    await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"config":"file-two"}}']);
    // The agent retries for about 15 s before it gives up.
    const [failed] = await waitForEvents(ns, 'ReloadFailed', 90_000).catch((e: unknown) => {
      process.stderr.write(
        `DEBUG\n${confighash.logs
          .filter((l) => l.includes(ns) && /reload-tracker|events|reconciler/.test(l))
          .slice(-20)
          .join('\n')}\n`,
      );
      throw e;
    });
    assert.match(
      failed?.message ?? '',
      /Reload in place failed: pod web-[a-z0-9-]+: POST http:\/\/127\.0\.0\.1:8080\/-\/reload: HTTP 404.*rolling the workload instead/,
    );
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    const rolled = await waitForRolledOut(ns, 'Deployment', 'web', REPLICAS);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2, 'rolled once');
    for (const pod of rolled) assert.equal((await served(ns, pod.metadata.name)).file, 'file-two');
  });
});
