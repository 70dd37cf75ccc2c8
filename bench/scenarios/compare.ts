// `npm run bench -- --compare reloader`: stakater Reloader and confighash through the
// same scale, reaction and fan-out runs on the same control plane, one after the
// other, measured the same way: resident memory from /proc, time to ready, the
// reaction from a ConfigMap update to the patched Deployment on a watch, fan-out
// to hundreds of Deployments, ReplicaSets per change and the API requests each
// made (the API server's audit log).
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { requestJson } from '../../src/kube/raw.ts';
import { CONFIGHASH_SERVICE_ACCOUNT, RELOADER_SERVICE_ACCOUNT } from '../../test/cluster/controlplane.ts';
import { kubectl, kubectlJson, waitFor } from '../../test/support/kube.ts';
import { waitForIdle } from '../../test/support/rollouts.ts';
import { configMap, type ObjectList, type Workload, workload } from '../../test/support/workloads.ts';
import { auditedRequests, countByKind } from '../audit.ts';
import { startBenchConfighash } from '../confighash.ts';
import { inNamespace, OPTED_IN } from '../namespace.ts';
import { createDeployments, createSources, NAMESPACES } from '../population.ts';
import { ensureReloader, RELOADER_VERSION, startReloader } from '../reloader.ts';
import type { BenchContext, Scenario, Table, TargetCheck } from '../results.ts';
import { distribution, round, type Distribution } from '../stats.ts';
import { ArrivalLog } from '../watch.ts';

interface Plan {
  steps: number[];
  reactionSamples: number;
  fanout: number;
}

// The first step, with nothing to watch, is each process idle.
const FULL: Plan = { steps: [0, 1000, 5000, 20_000], reactionSamples: 30, fanout: 500 };
const QUICK: Plan = { steps: [0, 100], reactionSamples: 3, fanout: 10 };
const SAMPLE_GAP_MS = 500;
const RELOADER_AUTO = { 'reloader.stakater.com/auto': 'true' };
/** confighash unpaced for the fan-out, as Reloader is: its default pacing is the fan-out scenario's subject. */
const UNPACED = ['--rollout-rate=10000', '--rollout-burst=10000', '--coalesce-window=0'];

/** One of the two controllers under test, running. */
interface Running {
  pid: number;
  /** Seconds from its start to holding every source in its caches. */
  readySeconds: number;
  /** Resolves when it has nothing left to do. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

interface Subject {
  name: string;
  user: string;
  start(args: readonly string[], population: number): Promise<Running>;
}

function subjects(context: BenchContext, reloaderBinary: string): Subject[] {
  const reloader: Subject = {
    name: `Reloader ${RELOADER_VERSION}`,
    user: RELOADER_SERVICE_ACCOUNT,
    async start(_args, population) {
      const process = await startReloader(reloaderBinary);
      try {
        // Its informers deliver one add event per object listed: all counted, its caches are synced.
        await waitFor(
          'Reloader to receive every source',
          async () => (await reloaderAdds()) >= population || undefined,
          300_000,
        );
      } catch (error) {
        await process.stop();
        throw error;
      }
      const readySeconds = round((Date.now() - process.startedAt) / 1000);
      return { pid: process.pid, readySeconds, idle: () => sleep(3000), stop: () => process.stop() };
    },
  };
  const confighash: Subject = {
    name: 'confighash',
    user: CONFIGHASH_SERVICE_ACCOUNT,
    async start(args) {
      const process = await startBenchConfighash(context, args);
      const logged = (msg: string): number | undefined => {
        const line = process.logs.find((l) => l.includes(`"msg":"${msg}"`));
        return line ? (JSON.parse(line) as { time: number }).time : undefined;
      };
      const synced = await waitFor(
        'confighash to sync',
        () => Promise.resolve(logged('caches synced; reconciling')),
        300_000,
      );
      const readySeconds = round((synced - (logged('starting confighash') ?? synced)) / 1000);
      return {
        pid: process.pid,
        readySeconds,
        idle: () => waitForIdle(process.metricsUrl),
        stop: () => process.cleanup(),
      };
    },
  };
  return [reloader, confighash];
}

async function reloaderAdds(): Promise<number> {
  const text = await fetch('http://127.0.0.1:9090/metrics').then(
    (r) => r.text(),
    () => '',
  );
  return text
    .split('\n')
    .filter((line) => line.startsWith('reloader_events_received_total') && line.includes('"add"'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/** Resident memory of a process, MiB: the median of five samples a second apart. */
async function rssMiB(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (i > 0) await sleep(1000);
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    samples.push(Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) / 1024);
  }
  return round(samples.sort((a, b) => a - b)[2] ?? Number.NaN);
}

interface ScaleRow {
  sources: number;
  readySeconds: number;
  rssMiB: number;
}

async function scaleRuns(plan: Plan, all: Subject[], log: (line: string) => void): Promise<Map<string, ScaleRow[]>> {
  const rows = new Map<string, ScaleRow[]>(all.map((s) => [s.name, []]));
  await kubectl(['delete', 'namespace', ...NAMESPACES, '--ignore-not-found', '--wait=true']);
  for (const namespace of NAMESPACES) {
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['label', 'namespace', namespace, OPTED_IN]);
  }
  let previous = 0;
  try {
    for (const sources of plan.steps) {
      await createSources(previous / 2, sources / 2);
      await createDeployments(previous / 10, sources / 10);
      previous = sources;
      for (const subject of all) {
        const row = await scaleRow(subject, sources);
        log(`${subject.name}, ${sources} sources: ready in ${row.readySeconds}s, RSS ${row.rssMiB} MiB`);
        rows.get(subject.name)?.push(row);
      }
    }
  } finally {
    // Waited for: deleting 20,000 objects keeps the control plane busy, which would slow whichever controller runs next.
    await kubectl(['delete', 'namespace', ...NAMESPACES, '--wait=true', '--timeout=600s']);
  }
  return rows;
}

async function scaleRow(subject: Subject, sources: number): Promise<ScaleRow> {
  const running = await subject.start([], sources);
  try {
    await running.idle();
    return { sources, readySeconds: running.readySeconds, rssMiB: await rssMiB(running.pid) };
  } finally {
    await running.stop();
  }
}

interface ChangeRun {
  /** Per change, ms; for the fan-out, per Deployment. */
  latencies: Distribution;
  /** The reaction's latencies in the order of the changes (ms): where its slowest ones fell. */
  samples?: number[];
  changes: number;
  /** New ReplicaSets, all Deployments together. */
  rollouts: number;
  expectedRollouts: number;
  requests: number;
  /** The same requests by verb and resource, e.g. `{ "patch deployments": 30 }`. */
  requestsByKind: Record<string, number>;
}

/**
 * What `user` asked the API server since `since`, leaving out watches and Leases
 * (steady, not per change); by kind, those made in another namespace than the
 * scenario's are counted apart ("create events elsewhere").
 */
async function changeRequests(
  since: number,
  user: string,
  namespace: string,
): Promise<Pick<ChangeRun, 'requests' | 'requestsByKind'>> {
  const requests = (await auditedRequests(since, Date.now() + 1, user)).filter(
    (r) => r.verb !== 'watch' && !r.resource.startsWith('leases'),
  );
  const located = requests.map((r) =>
    r.namespace === '' || r.namespace === namespace ? r : { ...r, resource: `${r.resource} elsewhere` },
  );
  return { requests: requests.length, requestsByKind: countByKind(located) };
}

async function replicaSets(namespace: string): Promise<number> {
  return (await kubectlJson<ObjectList<unknown>>(['get', 'replicasets', '-n', namespace])).items.length;
}

async function updateConfigMap(namespace: string, name: string, n: number): Promise<number> {
  await requestJson(loadKubeConfig(), {
    method: 'PATCH',
    path: `/api/v1/namespaces/${namespace}/configmaps/${name}`,
    body: { data: { n: String(n) } },
    contentType: 'application/merge-patch+json',
    timeoutMs: 10_000,
  });
  return performance.now();
}

const templateOf = (d: Workload): string => JSON.stringify(d.spec.template);

/** Sets up `count` Deployments on one ConfigMap, starts the subject, and hands over once all are settled. */
async function withDeployments<T>(
  subject: Subject,
  args: readonly string[],
  count: number,
  body: (namespace: string, deployments: ArrivalLog<Workload>, running: Running) => Promise<T>,
): Promise<T> {
  // Opted in for confighash; every Deployment carries Reloader's auto annotation.
  return inNamespace(`bench-compare-${count}`, async (namespace) => {
    const running = await subject.start(args, 0);
    const deployments = new ArrivalLog<Workload>();
    try {
      const names = Array.from({ length: count }, (_, i) => `web-${String(i).padStart(3, '0')}`);
      const objects = [
        configMap('app', { n: '0' }),
        ...names.map((name) =>
          workload(
            'Deployment',
            name,
            { envFrom: [{ configMapRef: { name: 'app' } }] },
            { annotations: RELOADER_AUTO },
          ),
        ),
      ];
      await kubectl(
        ['create', '-n', namespace, '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
      );
      await waitFor(
        `${count} first ReplicaSets`,
        async () => (await replicaSets(namespace)) === count || undefined,
        300_000,
      );
      await running.idle();
      await deployments.start(`/apis/apps/v1/namespaces/${namespace}/deployments`);
      await waitFor('the Deployments on a watch', () =>
        Promise.resolve(deployments.arrivals.length >= count || undefined),
      );
      return await body(namespace, deployments, running);
    } finally {
      deployments.stop();
      await running.stop();
    }
  });
}

/** Rollouts after the changes, once they stop coming: counted when two counts 3 s apart agree. */
async function settledReplicaSets(namespace: string, running: Running): Promise<number> {
  await running.idle();
  let count = await replicaSets(namespace);
  for (;;) {
    await sleep(3000);
    const again = await replicaSets(namespace);
    if (again === count) return count;
    count = again;
  }
}

async function reactionRun(subject: Subject, samples: number): Promise<ChangeRun> {
  return withDeployments(subject, ['--coalesce-window=0'], 1, async (namespace, deployments, running) => {
    const since = Date.now();
    const latencies: number[] = [];
    for (let n = 1; n <= samples; n++) {
      const before = deployments.arrivals.length;
      const previous = deployments.arrivals.at(-1)?.object;
      const changed = await updateConfigMap(namespace, 'app', n);
      const patched = await deployments.next(
        before,
        (d) => previous === undefined || templateOf(d) !== templateOf(previous),
        30_000,
      );
      latencies.push(patched.at - changed);
      await sleep(SAMPLE_GAP_MS);
    }
    const rollouts = (await settledReplicaSets(namespace, running)) - 1;
    return {
      latencies: distribution(latencies),
      samples: latencies.map(round),
      changes: samples,
      rollouts,
      expectedRollouts: samples,
      ...(await changeRequests(since, subject.user, namespace)),
    };
  });
}

async function fanoutRun(subject: Subject, count: number): Promise<ChangeRun> {
  return withDeployments(subject, UNPACED, count, async (namespace, deployments, running) => {
    const initial = new Map(deployments.arrivals.map((a) => [a.object.metadata.name, templateOf(a.object)]));
    const since = Date.now();
    const changed = await updateConfigMap(namespace, 'app', 1);
    const patchedAt = new Map<string, number>();
    for (let index = 0; patchedAt.size < count;) {
      const arrival = await deployments.next(index, (d) => templateOf(d) !== initial.get(d.metadata.name), 300_000);
      index = arrival.index + 1;
      if (!patchedAt.has(arrival.object.metadata.name))
        patchedAt.set(arrival.object.metadata.name, arrival.at - changed);
    }
    const rollouts = (await settledReplicaSets(namespace, running)) - count;
    return {
      latencies: distribution([...patchedAt.values()]),
      changes: 1,
      rollouts,
      expectedRollouts: count,
      ...(await changeRequests(since, subject.user, namespace)),
    };
  });
}

const ratio = (reloader: number, confighash: number): string =>
  confighash > 0 ? `${round(reloader / confighash)}×` : '—';

type Row = (string | number)[];

function scaleRows(names: readonly string[], scale: Map<string, ScaleRow[]>): Row[] {
  const [reloader = [], confighash = []] = names.map((name) => scale.get(name) ?? []);
  const rows: Row[] = reloader.flatMap((row, i) => {
    const other = confighash[i];
    return other
      ? [[`RSS with ${row.sources} sources (MiB)`, row.rssMiB, other.rssMiB, ratio(row.rssMiB, other.rssMiB)]]
      : [];
  });
  const [r, c] = [reloader.at(-1), confighash.at(-1)];
  if (r && c)
    rows.push([
      `ready with ${r.sources} sources (s)`,
      r.readySeconds,
      c.readySeconds,
      ratio(r.readySeconds, c.readySeconds),
    ]);
  return rows;
}

function changeRows(label: string, [a, b]: readonly ChangeRun[]): Row[] {
  if (!a || !b) return [];
  const rows: Row[] =
    label === 'reaction'
      ? [
          [
            'reaction median (ms)',
            a.latencies.median,
            b.latencies.median,
            ratio(a.latencies.median, b.latencies.median),
          ],
          ['reaction p99 (ms)', a.latencies.p99, b.latencies.p99, ratio(a.latencies.p99, b.latencies.p99)],
        ]
      : [
          [
            `fan-out: ${a.expectedRollouts} Deployments patched after (s)`,
            round(a.latencies.max / 1000),
            round(b.latencies.max / 1000),
            ratio(a.latencies.max, b.latencies.max),
          ],
        ];
  const missed = (run: ChangeRun): number => Math.max(0, run.expectedRollouts - run.rollouts);
  return [
    ...rows,
    [
      `${label}: rollouts per Deployment per change`,
      round(a.rollouts / a.expectedRollouts),
      round(b.rollouts / b.expectedRollouts),
      '',
    ],
    [
      `${label}: API requests per change`,
      round(a.requests / a.changes),
      round(b.requests / b.changes),
      ratio(a.requests, b.requests),
    ],
    [`${label}: missed rollouts`, missed(a), missed(b), ''],
  ];
}

function sideBySide(
  names: readonly string[],
  scale: Map<string, ScaleRow[]>,
  reaction: ChangeRun[],
  fanout: ChangeRun[],
): Table {
  return {
    title: 'Side by side, on the same control plane, one after the other',
    columns: ['measure', names[0] ?? '', names[1] ?? '', 'ratio (Reloader ÷ confighash)'],
    rows: [...scaleRows(names, scale), ...changeRows('reaction', reaction), ...changeRows('fan-out', fanout)],
  };
}

export const compareReloader: Scenario = async (context) => {
  const plan = context.quick ? QUICK : FULL;
  const log = (line: string): void => {
    context.log(line);
  };
  const all = subjects(context, await ensureReloader(log));
  const names = all.map((s) => s.name);
  const scale = await scaleRuns(plan, all, log);
  const reaction: ChangeRun[] = [];
  const fanout: ChangeRun[] = [];
  for (const subject of all) {
    reaction.push(await reactionRun(subject, plan.reactionSamples));
    context.log(`${subject.name}: reaction ${JSON.stringify(reaction.at(-1)?.latencies)}`);
    fanout.push(await fanoutRun(subject, plan.fanout));
    context.log(`${subject.name}: fan-out to ${plan.fanout} in ${round((fanout.at(-1)?.latencies.max ?? 0) / 1000)}s`);
  }
  const [rr, cr] = reaction;
  const [, cf] = fanout;
  const targets: TargetCheck[] = [];
  if (rr && cr && cf) {
    targets.push(
      {
        name: 'confighash: one rollout per change, none missed (reaction)',
        kind: 'correctness',
        goal: `exactly ${cr.expectedRollouts}`,
        measured: String(cr.rollouts),
        met: cr.rollouts === cr.expectedRollouts,
      },
      {
        name: 'confighash: one rollout per Deployment (fan-out)',
        kind: 'correctness',
        goal: `exactly ${cf.expectedRollouts}`,
        measured: String(cf.rollouts),
        met: cf.rollouts === cf.expectedRollouts,
      },
      {
        name: "reaction median at or below Reloader's",
        kind: 'performance',
        goal: `≤ ${rr.latencies.median} ms`,
        measured: `${cr.latencies.median} ms`,
        met: cr.latencies.median <= rr.latencies.median,
      },
      {
        name: "reaction p99 at or below Reloader's",
        kind: 'performance',
        goal: `≤ ${rr.latencies.p99} ms`,
        measured: `${cr.latencies.p99} ms`,
        met: cr.latencies.p99 <= rr.latencies.p99,
      },
    );
  }
  return {
    scenario: 'compare-reloader',
    title: `Side by side with stakater Reloader ${RELOADER_VERSION}`,
    settings: {
      steps: plan.steps.join(', '),
      reactionSamples: plan.reactionSamples,
      sampleGapMs: SAMPLE_GAP_MS,
      fanoutDeployments: plan.fanout,
      reloader:
        'its own defaults (all namespaces, env-vars strategy); Deployments annotated reloader.stakater.com/auto',
      confighash: `the image's flags; reaction with --coalesce-window=0; fan-out with ${UNPACED.join(' ')}`,
    },
    latencies: [...reaction.map((run, i) => ({ name: `reaction, ${names[i] ?? ''}`, distribution: run.latencies }))],
    tables: [sideBySide(names, scale, reaction, fanout)],
    targets,
    data: { scale: Object.fromEntries(scale), reaction, fanout },
  };
};
