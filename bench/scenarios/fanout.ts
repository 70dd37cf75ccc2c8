// Scenario 4: fan-out. One ConfigMap consumed by hundreds of Deployments: the time
// until all are patched against the configured rate limit, no 429 from the API
// server, and every Deployment exactly one new ReplicaSet.
import { loadKubeConfig } from '../../src/kube/client.ts';
import { requestJson } from '../../src/kube/raw.ts';
import { kubectl, kubectlJson, waitFor } from '../../test/support/kube.ts';
import { waitForIdle } from '../../test/support/rollouts.ts';
import { configMap, type ObjectList, type Workload, workload } from '../../test/support/workloads.ts';
import { auditedRequests, countByKind, throttled } from '../audit.ts';
import { startBenchConfighash } from '../confighash.ts';
import { inNamespace } from '../namespace.ts';
import type { Scenario } from '../results.ts';
import { distribution, round } from '../stats.ts';
import { ArrivalLog } from '../watch.ts';

const NAMESPACE = 'bench-fanout';
const SOURCES = 'confighash.dev/sources';
/** confighash's defaults, stated here so the expected duration can be computed. */
const RATE = 10;
const BURST = 20;
const WINDOW_S = 2;

interface ReplicaSet {
  metadata: { ownerReferences?: { name: string }[] };
}

export const fanout: Scenario = async (context) => {
  const count = context.quick ? 30 : 500;
  return inNamespace(NAMESPACE, async (namespace) => {
    const confighash = await startBenchConfighash(context, [
      `--rollout-rate=${RATE}`,
      `--rollout-burst=${BURST}`,
      `--coalesce-window=${WINDOW_S}s`,
    ]);
    const deployments = new ArrivalLog<Workload & { metadata: { name: string } }>();
    try {
      const names = Array.from({ length: count }, (_, i) => `web-${String(i).padStart(3, '0')}`);
      const list = {
        apiVersion: 'v1',
        kind: 'List',
        items: [
          configMap('shared', { v: '1' }),
          ...names.map((name) => workload('Deployment', name, { envFrom: [{ configMapRef: { name: 'shared' } }] })),
        ],
      };
      await kubectl(['create', '-n', namespace, '-f', '-'], JSON.stringify(list));
      await waitFor(
        `${count} first ReplicaSets`,
        async () => (await replicaSetOwners(namespace)).length === count || undefined,
        300_000,
      );
      await waitForIdle(confighash.metricsUrl);
      await deployments.start(`/apis/apps/v1/namespaces/${namespace}/deployments`);
      await waitFor('the Deployments on a watch', () =>
        Promise.resolve(deployments.arrivals.length >= count || undefined),
      );
      const initial = new Map(
        deployments.arrivals.map((a) => [
          a.object.metadata.name,
          a.object.spec.template.metadata.annotations?.[SOURCES],
        ]),
      );
      const throttledBefore = await apiserverThrottled();

      const started = Date.now();
      await requestJson(loadKubeConfig(), {
        method: 'PATCH',
        path: `/api/v1/namespaces/${namespace}/configmaps/shared`,
        body: { data: { v: '2' } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 10_000,
      });
      const changed = performance.now();
      const patchedAt = new Map<string, number>();
      const expectedSeconds = Math.max(0, count - BURST) / RATE + WINDOW_S;
      for (let index = 0; patchedAt.size < count;) {
        const arrival = await deployments.next(
          index,
          (d) => d.spec.template.metadata.annotations?.[SOURCES] !== initial.get(d.metadata.name),
          (expectedSeconds + 120) * 1000,
        );
        index = arrival.index + 1;
        if (!patchedAt.has(arrival.object.metadata.name))
          patchedAt.set(arrival.object.metadata.name, arrival.at - changed);
      }
      const allPatchedS = Math.max(...patchedAt.values()) / 1000;
      context.log(
        `${count} Deployments patched in ${allPatchedS.toFixed(1)}s (rate limit alone: ${expectedSeconds.toFixed(1)}s)`,
      );
      await waitForIdle(confighash.metricsUrl);
      const owners = await waitFor(
        `${2 * count} ReplicaSets`,
        async () => {
          const all = await replicaSetOwners(namespace);
          return all.length >= 2 * count ? all : undefined;
        },
        300_000,
      );
      const requests = await auditedRequests(started, Date.now());
      const throttledByApiserver = (await apiserverThrottled()) - throttledBefore;
      const notExactlyTwo = names.filter((name) => owners.filter((o) => o === name).length !== 2);
      const times = distribution([...patchedAt.values()]);
      return {
        scenario: 'fanout',
        title: 'Fan-out',
        settings: { deployments: count, rolloutRate: `${RATE}/s`, rolloutBurst: BURST, coalesceWindow: `${WINDOW_S}s` },
        latencies: [{ name: `time until each of ${count} Deployments is patched`, distribution: times }],
        tables: [
          {
            title: 'One ConfigMap change, consumed by every Deployment',
            columns: [
              'Deployments',
              'all patched after',
              'rate limit alone',
              'median',
              'p99',
              'confighash requests',
              '429s',
            ],
            rows: [
              [
                count,
                `${round(allPatchedS)} s`,
                `${round(expectedSeconds)} s`,
                `${round(times.median / 1000)} s`,
                `${round(times.p99 / 1000)} s`,
                requests.length,
                throttled(requests),
              ],
            ],
          },
          {
            title: "confighash's requests meanwhile, as the API server audited them",
            columns: ['request', 'count'],
            rows: Object.entries(countByKind(requests)),
          },
        ],
        targets: [
          {
            name: 'every Deployment has exactly one new ReplicaSet',
            kind: 'correctness',
            goal: `${count} of ${count}`,
            measured: `${count - notExactlyTwo.length} of ${count}`,
            met: notExactlyTwo.length === 0,
          },
          {
            name: '429 answers from the API server (to anyone)',
            kind: 'correctness',
            goal: '0',
            measured: String(throttledByApiserver + throttled(requests)),
            met: throttledByApiserver + throttled(requests) === 0,
          },
          {
            name: 'all patched, against the rate limit',
            kind: 'performance',
            goal: `≈ ${round(expectedSeconds)} s ((${count} − burst ${BURST}) / ${RATE}/s + ${WINDOW_S}s window)`,
            measured: `${round(allPatchedS)} s`,
            met: allPatchedS <= expectedSeconds * 1.2 + 1,
          },
        ],
        data: {
          allPatchedSeconds: round(allPatchedS),
          expectedSeconds: round(expectedSeconds),
          requests: countByKind(requests),
        },
      };
    } finally {
      deployments.stop();
      await confighash.cleanup();
    }
  });
};

/** The owning Deployment of every ReplicaSet in the namespace. */
async function replicaSetOwners(namespace: string): Promise<string[]> {
  const list = await kubectlJson<ObjectList<ReplicaSet>>(['get', 'replicasets', '-n', namespace]);
  return list.items.map((rs) => rs.metadata.ownerReferences?.[0]?.name ?? '');
}

/** 429s the API server has answered, to any client, since it started. */
async function apiserverThrottled(): Promise<number> {
  const metrics = await kubectl(['get', '--raw', '/metrics']);
  return metrics
    .split('\n')
    .filter((line) => line.startsWith('apiserver_request_total{') && line.includes('code="429"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}
