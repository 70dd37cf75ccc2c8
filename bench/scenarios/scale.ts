// Scenario 3: scale and memory. Opted-in namespaces fill up with ConfigMaps and
// Secrets (a realistic size mix) and Deployments consuming them, in steps; at each
// step a fresh confighash syncs, and its time to ready and memory are measured.
// At the last step, an hour's worth of churn compressed into minutes, memory again,
// and the API requests confighash makes while idle, as the API server audited them.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { requestJson } from '../../src/kube/raw.ts';
import { CONFIGHASH_NAMESPACE, type ConfighashProcess } from '../../test/support/confighash.ts';
import { kubectl, waitFor } from '../../test/support/kube.ts';
import { waitForIdle } from '../../test/support/rollouts.ts';
import { auditedRequests, countByKind, type AuditedRequest } from '../audit.ts';
import type { GrowthPoint } from '../chart.ts';
import { memory, type MemorySample, problems, startBenchConfighash } from '../confighash.ts';
import { OPTED_IN } from '../namespace.ts';
import {
  configMapData,
  create,
  createDeployments,
  createSources,
  deployment,
  NAMESPACES,
  placeSource,
  secretData,
} from '../population.ts';
import type { BenchContext, Scenario, ScenarioReport, TargetCheck } from '../results.ts';
import { round } from '../stats.ts';

const MIB = 2 ** 20;
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

interface Plan {
  /** Sources (ConfigMaps + Secrets, half each) at each step; Deployments are a tenth of that. */
  steps: number[];
  churnSeconds: number;
  idleSeconds: number;
}

// The first step, with nothing to track, is the idle process.
const FULL: Plan = { steps: [0, 1000, 5000, 10_000, 20_000], churnSeconds: 180, idleSeconds: 120 };
const QUICK: Plan = { steps: [0, 100, 200], churnSeconds: 5, idleSeconds: 5 };

interface Step extends GrowthPoint {
  deployments: number;
  readySeconds: number;
}

export const scale: Scenario = async (context) => {
  const plan = context.quick ? QUICK : FULL;
  await recreateNamespaces();
  try {
    const steps: Step[] = [];
    let bytes = 0;
    let last: { confighash: ConfighashProcess; step: Step } | undefined;
    for (const sources of plan.steps) {
      const previous = steps.at(-1)?.sources ?? 0;
      bytes += await createSources(previous / 2, sources / 2);
      await createDeployments(previous / 10, sources / 10);
      await last?.confighash.cleanup();
      last = await measureStep(context, sources, bytes);
      steps.push(last.step);
    }
    if (!last) throw new Error('no scale step ran');
    try {
      return await churnAndIdle(context, plan, last.confighash, steps);
    } finally {
      await last.confighash.cleanup();
    }
  } finally {
    await kubectl(['delete', 'namespace', ...NAMESPACES, '--wait=false']);
  }
};

async function recreateNamespaces(): Promise<void> {
  await kubectl(['delete', 'namespace', ...NAMESPACES, '--ignore-not-found', '--wait=true']);
  for (const namespace of NAMESPACES) {
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['label', 'namespace', namespace, OPTED_IN]);
  }
}

/** A fresh confighash on the cluster as it is: time to ready, then memory once it has nothing left to do. */
async function measureStep(
  context: BenchContext,
  sources: number,
  bytes: number,
): Promise<{ confighash: ConfighashProcess; step: Step }> {
  const confighash = await startBenchConfighash(context);
  // The webhook serves before the controller's caches are synced; ready is both.
  await waitFor(
    'the caches synced',
    () =>
      Promise.resolve(confighash.logs.some((line) => line.includes('"msg":"caches synced; reconciling"')) || undefined),
    300_000,
  );
  const readySeconds = secondsBetween(confighash, 'starting confighash', 'caches synced; reconciling');
  await waitForIdle(confighash.metricsUrl);
  const settled = await settledMemory(confighash.metricsUrl);
  const step: Step = { sources, deployments: sources / 10, dataMiB: round(bytes / MIB), readySeconds, ...settled };
  context.log(
    `${sources} sources (${step.dataMiB} MiB): ready in ${readySeconds}s, RSS ${settled.rssMiB} MiB, heap ${settled.heapUsedMiB} MiB`,
  );
  return { confighash, step };
}

/** The median of five samples a second apart: memory after the last allocations have been collected or not. */
async function settledMemory(metricsUrl: string): Promise<MemorySample> {
  const samples: MemorySample[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(1000);
    samples.push(await memory(metricsUrl));
  }
  const median = (pick: (s: MemorySample) => number): number =>
    samples.map(pick).sort((a, b) => a - b)[2] ?? Number.NaN;
  return { rssMiB: median((s) => s.rssMiB), heapUsedMiB: median((s) => s.heapUsedMiB) };
}

/** Seconds from the log line `from` to the log line `to`, by their pino timestamps. */
function secondsBetween(confighash: ConfighashProcess, from: string, to: string): number {
  const time = (msg: string): number => {
    const line = confighash.logs.find((l) => l.includes(`"msg":"${msg}"`));
    if (!line) throw new Error(`confighash never logged "${msg}"`);
    return (JSON.parse(line) as { time: number }).time;
  };
  return round((time(to) - time(from)) / 1000);
}

async function churnAndIdle(
  context: BenchContext,
  plan: Plan,
  confighash: ConfighashProcess,
  steps: Step[],
): Promise<ScenarioReport> {
  const final = steps.at(-1);
  if (!final) throw new Error('no scale step ran');
  const operations = await churn(plan, final.sources);
  context.log(`churn: ${operations} operations in ${plan.churnSeconds}s`);
  await waitForIdle(confighash.metricsUrl);
  const states = await settledWorkloadStates();
  const afterChurn = await settledMemory(confighash.metricsUrl);
  context.log(
    `after churn: RSS ${afterChurn.rssMiB} MiB, heap ${afterChurn.heapUsedMiB} MiB; workloads ${JSON.stringify(states)}`,
  );

  const idleFrom = Date.now();
  await sleep(plan.idleSeconds * 1000); // the measurement itself: a quiet interval
  const idle = await auditedRequests(idleFrom, Date.now());
  const minutes = plan.idleSeconds / 60;
  const steady = idle.filter((r) => !isPeriodic(r));
  const logged = problems(confighash);
  return report({ plan, steps, final, afterChurn, states, idle, minutes, steady, logged, operations });
}

/**
 * What confighash does on a timer rather than per object: watches (re-established
 * when they time out) and relists, renewing the leader Lease, and reading its
 * webhook certificate Secret every --tls-check-interval (another replica may have
 * renewed it).
 */
function isPeriodic(request: AuditedRequest): boolean {
  return (
    request.verb === 'watch' ||
    request.verb === 'list' ||
    request.resource === 'leases' ||
    (request.verb === 'get' && request.object === `${CONFIGHASH_NAMESPACE}/confighash-webhook-tls`)
  );
}

/**
 * An hour of churn at this size: 5% of the sources updated, 0.5% created and as
 * many of those deleted again, and 0.25% of the Deployments' templates edited,
 * evenly spread over `churnSeconds`. Returns the number of operations.
 */
async function churn(plan: Plan, sources: number): Promise<number> {
  const perKind = sources / 2;
  const count = (fraction: number): number => Math.max(1, Math.round(sources * fraction));
  const updates = Array.from({ length: count(0.05) }, (_, k) => {
    const i = (k * 7919) % perKind;
    return k % 2 === 0 ? () => updateSource('configmap', i) : () => updateSource('secret', i);
  });
  const creates = Array.from({ length: count(0.005) }, (_, k) => () => createSource(perKind + k));
  const deletes = Array.from({ length: creates.length }, (_, k) => () => deleteSource(perKind + k));
  const edits = Array.from({ length: count(0.0025) }, (_, k) => () => editTemplate((k * 31) % (sources / 10), k));
  // Round-robin, so the kinds mix and each create comes before its delete.
  const ordered = Array.from({ length: updates.length }, (_, k) => [updates[k], creates[k], edits[k], deletes[k]])
    .flat()
    .filter((op) => op !== undefined);
  const started = performance.now();
  const interval = (plan.churnSeconds * 1000) / ordered.length;
  for (const [n, operation] of ordered.entries()) {
    await sleep(Math.max(0, started + n * interval - performance.now()));
    await operation();
  }
  return ordered.length;
}

async function patch(path: string, body: object): Promise<void> {
  await requestJson(loadKubeConfig(), {
    method: 'PATCH',
    path,
    body,
    contentType: 'application/merge-patch+json',
    timeoutMs: 60_000,
  });
}

async function updateSource(kind: 'configmap' | 'secret', i: number): Promise<void> {
  const { namespace, name } = placeSource(kind, i);
  await patch(`/api/v1/namespaces/${namespace}/${kind}s/${name}`, {
    data: kind === 'configmap' ? configMapData(i) : secretData(i),
  });
}

async function createSource(i: number): Promise<void> {
  const { namespace, name } = placeSource('configmap', i);
  await create(`/api/v1/namespaces/${namespace}/configmaps`, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: configMapData(i),
  });
}

async function deleteSource(i: number): Promise<void> {
  const { namespace, name } = placeSource('configmap', i);
  await requestJson(loadKubeConfig(), {
    method: 'DELETE',
    path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
    timeoutMs: 60_000,
  });
}

async function editTemplate(j: number, k: number): Promise<void> {
  const { namespace, name } = deployment(j);
  await patch(`/apis/apps/v1/namespaces/${namespace}/deployments/${name}`, {
    spec: { template: { metadata: { labels: { edit: String(k) } } } },
  });
}

/**
 * The states once kube-controller-manager has caught up: "rolling" (confighash's
 * patch is in, the Deployment controller has not yet reported the rollout done) passes
 * on its own; any other state is final.
 */
async function settledWorkloadStates(): Promise<Record<string, number>> {
  let states = await workloadStates();
  const deadline = Date.now() + 180_000;
  while ((states['rolling'] ?? 0) > 0 && Date.now() < deadline) {
    await sleep(5000);
    states = await workloadStates();
  }
  return states;
}

/** How many tracked workloads are in each state, as `confighash status -A` reports them. */
async function workloadStates(): Promise<Record<string, number>> {
  const { stdout } = await promisify(execFile)(process.execPath, [MAIN, 'status', '-A', '-o', 'json'], {
    maxBuffer: 256 * MIB,
  });
  const counts: Record<string, number> = {};
  for (const { state } of JSON.parse(stdout) as { state: string }[]) counts[state] = (counts[state] ?? 0) + 1;
  return counts;
}

interface Findings {
  plan: Plan;
  steps: Step[];
  final: Step;
  afterChurn: MemorySample;
  states: Record<string, number>;
  idle: AuditedRequest[];
  minutes: number;
  steady: AuditedRequest[];
  logged: string[];
  operations: number;
}

function report(f: Findings): ScenarioReport {
  const first = f.steps[0];
  const perSource =
    first && f.final.sources > first.sources
      ? ((f.final.heapUsedMiB - first.heapUsedMiB) * MIB) / (f.final.sources - first.sources)
      : Number.NaN;
  const dataPerSource = (f.final.dataMiB * MIB) / f.final.sources;
  const notCurrent = Object.entries(f.states)
    .filter(([state]) => state !== 'current')
    .reduce((sum, [, n]) => sum + n, 0);
  const targets: TargetCheck[] = [
    ...(first?.sources === 0
      ? [
          {
            name: 'RSS of the idle process (nothing to track)',
            kind: 'performance' as const,
            goal: '≤ 80 MiB',
            measured: `${first.rssMiB} MiB`,
            met: first.rssMiB <= 80,
          },
        ]
      : []),
    {
      name: `RSS with ${f.final.sources} sources (${f.final.dataMiB} MiB of data), after sync`,
      kind: 'performance',
      goal: '≤ 120 MiB',
      measured: `${f.final.rssMiB} MiB`,
      met: f.final.rssMiB <= 120,
    },
    {
      name: `RSS with ${f.final.sources} sources, after an hour's churn`,
      kind: 'performance',
      goal: '≤ 130 MiB',
      measured: `${f.afterChurn.rssMiB} MiB`,
      met: f.afterChurn.rssMiB <= 130,
    },
    {
      name: `ready with ${f.final.sources} sources`,
      kind: 'performance',
      goal: '≤ 60 s',
      measured: `${f.final.readySeconds} s`,
      met: f.final.readySeconds <= 60,
    },
    {
      name: 'memory grows with the number of sources, not their size',
      kind: 'performance',
      goal: 'heap per added source ≪ data per source',
      measured: `${round(perSource / 1024)} KiB of heap per source, for ${round(dataPerSource / 1024)} KiB of data per source`,
      met: perSource < dataPerSource / 10,
    },
    {
      name: 'idle: requests beyond watches, relists, the leader Lease and the certificate check',
      kind: 'performance',
      goal: 'none',
      measured: `${round(f.steady.length / f.minutes)}/min (all requests: ${round(f.idle.length / f.minutes)}/min)`,
      met: f.steady.length === 0,
    },
    {
      name: 'workloads current after churn (confighash status -A)',
      kind: 'correctness',
      goal: 'all',
      measured: JSON.stringify(f.states),
      met: notCurrent === 0 && (f.states['current'] ?? 0) > 0,
    },
    {
      name: 'warnings or errors logged',
      kind: 'correctness',
      goal: '0',
      measured: String(f.logged.length),
      met: f.logged.length === 0,
      ...(f.logged[0] ? { note: f.logged[0].slice(0, 300) } : {}),
    },
  ];
  return {
    scenario: 'scale',
    title: 'Scale and memory',
    settings: {
      steps: f.plan.steps.join(', '),
      deployments: 'a tenth of the sources, 3 sources each',
      churn: `${f.operations} operations over ${f.plan.churnSeconds}s`,
      idleWindow: `${f.plan.idleSeconds}s`,
    },
    latencies: [],
    tables: [
      {
        title: 'A fresh confighash at each size (memory: median of five samples once idle)',
        columns: ['sources', 'data (MiB)', 'Deployments', 'ready (s)', 'RSS (MiB)', 'V8 heap used (MiB)'],
        rows: f.steps.map((s) => [s.sources, s.dataMiB, s.deployments, s.readySeconds, s.rssMiB, s.heapUsedMiB]),
      },
      {
        title: `After churn (${f.operations} operations)`,
        columns: ['RSS (MiB)', 'V8 heap used (MiB)'],
        rows: [[f.afterChurn.rssMiB, f.afterChurn.heapUsedMiB]],
      },
      {
        title: `Requests while idle, per minute (${f.plan.idleSeconds}s window; long-running watches count when they end)`,
        columns: ['request', 'per minute'],
        rows: Object.entries(countByKind(f.idle)).map(([kind, n]) => [kind, round(n / f.minutes)]),
      },
    ],
    targets,
    data: {
      growth: f.steps.map(({ sources, dataMiB, rssMiB, heapUsedMiB }) => ({ sources, dataMiB, rssMiB, heapUsedMiB })),
      readySeconds: f.steps.map((s) => s.readySeconds),
      afterChurn: f.afterChurn,
      idleRequestsPerMinute: Object.fromEntries(
        Object.entries(countByKind(f.idle)).map(([k, n]) => [k, round(n / f.minutes)]),
      ),
    },
  };
}
