// Scenario 2: reaction time. With the coalescing window at 0, the time from a
// ConfigMap update (as the API server accepted it) to the consuming Deployment's
// patched template arriving on a watch; then with the default window, to show
// that the window is the only delay it adds.
import { loadKubeConfig } from '../../src/kube/client.ts';
import { requestJson } from '../../src/kube/raw.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { apply, kubectlJson, waitFor } from '../../test/support/kube.ts';
import { waitForIdle } from '../../test/support/rollouts.ts';
import { configMap, type ObjectList, type Workload, workload } from '../../test/support/workloads.ts';
import { startBenchConfighash } from '../confighash.ts';
import { inNamespace } from '../namespace.ts';
import type { BenchContext, LatencySeries, Scenario, TargetCheck } from '../results.ts';
import { ArrivalLog } from '../watch.ts';
import { distribution, round } from '../stats.ts';

const NAMESPACE = 'bench-reaction';
const DEFAULT_WINDOW_MS = 2000;
/** Between samples: under the default rollout rate (10/s), so the rate limit never delays one. */
const SAMPLE_GAP_MS = 150;
const SOURCES = 'confighash.dev/sources';

interface Run {
  label: string;
  windowMs: number;
  samples: number;
}

export const reaction: Scenario = async (context) => {
  const runs: Run[] = [
    { label: 'window 0', windowMs: 0, samples: context.quick ? 5 : 200 },
    {
      label: `default window (${DEFAULT_WINDOW_MS / 1000}s)`,
      windowMs: DEFAULT_WINDOW_MS,
      samples: context.quick ? 2 : 20,
    },
  ];
  const latencies: LatencySeries[] = [];
  const rolloutChecks: TargetCheck[] = [];
  for (const run of runs) {
    const { series, check } = await measure(context, run);
    latencies.push(series);
    rolloutChecks.push(check);
  }
  const [zero, windowed] = latencies.map((l) => l.distribution);
  if (!zero || !windowed) throw new Error('a reaction run reported nothing');
  return {
    scenario: 'reaction',
    title: 'Reaction time',
    settings: {
      samples: runs.map((r) => `${r.samples} with ${r.label}`).join(', '),
      sampleGapMs: SAMPLE_GAP_MS,
      rolloutRate: '10/s (default)',
    },
    latencies,
    tables: [
      {
        title: 'From the ConfigMap update accepted to the patched Deployment on a watch (ms)',
        columns: ['coalescing window', 'samples', 'median', 'p95', 'p99', 'max', 'median minus window'],
        rows: latencies.map(({ name, distribution: d }, i) => [
          name,
          d.count,
          d.median,
          d.p95,
          d.p99,
          d.max,
          round(d.median - (runs[i]?.windowMs ?? 0)),
        ]),
      },
    ],
    targets: [
      {
        name: 'reaction p99 with the window at 0',
        kind: 'performance',
        goal: '≤ 100 ms',
        measured: `${zero.p99} ms`,
        met: zero.p99 <= 100,
      },
      {
        name: 'delay added by the default window, beyond the window itself (median)',
        kind: 'performance',
        goal: 'about the window-0 median',
        measured: `${round(windowed.median - DEFAULT_WINDOW_MS)} ms (window 0: ${zero.median} ms)`,
        met: windowed.median - DEFAULT_WINDOW_MS <= zero.p99,
      },
      ...rolloutChecks,
    ],
    data: {},
  };
};

async function measure(context: BenchContext, run: Run): Promise<{ series: LatencySeries; check: TargetCheck }> {
  return inNamespace(NAMESPACE, async (namespace) => {
    const confighash = await startBenchConfighash(context, [`--coalesce-window=${run.windowMs}ms`]);
    const deployments = new ArrivalLog<Workload>();
    const configMaps = new ArrivalLog<{ metadata: { resourceVersion: string } }>();
    try {
      const app = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] });
      await apply(namespace, configMap('app', { n: '0' }), {
        ...app,
        spec: { ...(app as { spec: object }).spec, revisionHistoryLimit: 1000 },
      });
      await waitFor('the first ReplicaSet', async () => (await replicaSets(namespace)) === 1 || undefined);
      await waitForIdle(confighash.metricsUrl);
      for (const [log, path] of [
        [deployments, `/apis/apps/v1/namespaces/${namespace}/deployments`],
        [configMaps, `/api/v1/namespaces/${namespace}/configmaps`],
      ] as const) {
        await log.start(path);
        await log.next(0, () => true, 10_000); // the object as it is now
      }

      const samples: number[] = [];
      for (let n = 1; n <= run.samples; n++) {
        samples.push(await sample(namespace, n, { deployments, configMaps }));
        await sleep(run.windowMs > 0 ? run.windowMs + 500 : SAMPLE_GAP_MS);
      }
      context.log(`${run.label}: ${JSON.stringify(distribution(samples))}`);
      await waitForIdle(confighash.metricsUrl);
      const expected = 1 + run.samples;
      const actual = await waitFor(`${expected} ReplicaSets`, async () => {
        const count = await replicaSets(namespace);
        return count >= expected ? count : undefined;
      });
      return {
        series: { name: `reaction, ${run.label}`, distribution: distribution(samples) },
        check: {
          name: `ReplicaSets after ${run.samples} changes with ${run.label}`,
          kind: 'correctness',
          goal: `exactly ${expected} (one per change, plus the first)`,
          measured: String(actual),
          met: actual === expected,
        },
      };
    } finally {
      deployments.stop();
      configMaps.stop();
      await confighash.cleanup();
    }
  });
}

/** One change: its reaction time in ms. */
async function sample(
  namespace: string,
  n: number,
  logs: { deployments: ArrivalLog<Workload>; configMaps: ArrivalLog<{ metadata: { resourceVersion: string } }> },
): Promise<number> {
  const before = logs.deployments.arrivals.length;
  const previous = logs.deployments.arrivals.at(-1)?.object.spec.template.metadata.annotations?.[SOURCES];
  const updated = await requestJson<{ metadata: { resourceVersion: string } }>(loadKubeConfig(), {
    method: 'PATCH',
    path: `/api/v1/namespaces/${namespace}/configmaps/app`,
    body: { data: { n: String(n) } },
    contentType: 'application/merge-patch+json',
    timeoutMs: 10_000,
  });
  const accepted = performance.now();
  const patched = await logs.deployments.next(
    before,
    (d) => {
      const sources = d.spec.template.metadata.annotations?.[SOURCES];
      return sources !== undefined && sources !== previous;
    },
    30_000,
  );
  // The API server may announce the update on a watch before its answer reaches us.
  const announced = logs.configMaps.arrivals.find(
    (a) => a.object.metadata.resourceVersion === updated.metadata.resourceVersion,
  )?.at;
  return patched.at - Math.min(accepted, announced ?? accepted);
}

async function replicaSets(namespace: string): Promise<number> {
  return (await kubectlJson<ObjectList<unknown>>(['get', 'replicasets', '-n', namespace])).items.length;
}
