// Scenario 1: admission latency and throughput. AdmissionReviews of a realistic
// Deployment consuming three sources go straight to the webhook over HTTPS with
// keep-alive, at fixed rates and at saturation; the webhook reads the sources
// live from the local apiserver, as in production. Separately, the webhook's own
// processing time: the same review handled in-process with the sources already read.
import { randomBytes, randomUUID } from 'node:crypto';
import { Registry } from 'prom-client';
import { consumedSources, HmacKeyring, keyId, ValueHasher } from '../../src/checksum/index.ts';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { LiveSourceReader, type SourceReader } from '../../src/sources/reader.ts';
import { createLogger } from '../../src/telemetry/log.ts';
import { Metrics } from '../../src/telemetry/metrics.ts';
import { AdmissionHandler } from '../../src/webhook/handler.ts';
import { type AdmissionRequest, parseAdmissionReview, reviewResponse } from '../../src/webhook/review.ts';
import { publishedCaBundle } from '../../test/support/https.ts';
import { apply } from '../../test/support/kube.ts';
import { metricValue } from '../../test/support/confighash.ts';
import { startBenchConfighash } from '../confighash.ts';
import { closedLoop, type LoadResult, type LoadTarget, openLoop } from '../load.ts';
import { inNamespace } from '../namespace.ts';
import { type Pinning, pinApart } from '../pinning.ts';
import type { BenchContext, LatencySeries, Scenario, ScenarioReport, TargetCheck } from '../results.ts';
import { distribution, round } from '../stats.ts';

const NAMESPACE = 'bench-admission';

interface Plan {
  rates: number[];
  secondsPerRate: number;
  saturationConcurrency: number;
  saturationSeconds: number;
  processingIterations: number;
}

const FULL: Plan = {
  rates: [50, 200, 1000],
  secondsPerRate: 20,
  saturationConcurrency: 32,
  saturationSeconds: 15,
  processingIterations: 20_000,
};
const QUICK: Plan = {
  rates: [50],
  secondsPerRate: 1,
  saturationConcurrency: 4,
  saturationSeconds: 1,
  processingIterations: 200,
};

export const admission: Scenario = async (context) => {
  const plan = context.quick ? QUICK : FULL;
  return inNamespace(NAMESPACE, async (namespace) => {
    await apply(namespace, ...sources());
    const processing = await processingTimes(namespace, plan.processingIterations);
    context.log(`processing (in-process, no API reads): ${JSON.stringify(processing)}`);
    const confighash = await startBenchConfighash(context);
    try {
      const target: LoadTarget = {
        url: confighash.webhookUrl,
        ca: await publishedCaBundle(),
        body: () => reviewBody(namespace),
        check: checkPatched,
      };
      await openLoop(target, 50, context.quick ? 0.2 : 2); // warm-up: connections, JIT
      const shared = await loadSeries(context, plan, { target, metricsUrl: confighash.metricsUrl }, 'shared');
      const pinning = await pinApart(confighash.pid);
      context.log(
        `pinned: confighash on CPU ${pinning.confighashCpus}, the control plane and the load on CPU ${pinning.othersCpus}`,
      );
      try {
        const pinned = await loadSeries(context, plan, { target, metricsUrl: confighash.metricsUrl }, 'pinned');
        return report(plan, processing, { shared, pinned }, pinning);
      } finally {
        await pinning.undo();
      }
    } finally {
      await confighash.cleanup();
    }
  });
};

interface Series {
  runs: Run[];
  saturation: { throughput: number; cpu: number };
}

/** The fixed rates, then saturation, labelled `cores` (shared or pinned). */
async function loadSeries(
  context: BenchContext,
  plan: Plan,
  load: { target: LoadTarget; metricsUrl: string },
  cores: string,
): Promise<Series> {
  const { target, metricsUrl } = load;
  const runs: Run[] = [];
  for (const rate of plan.rates) {
    const before = await ownClock(metricsUrl);
    const result = await openLoop(target, rate, plan.secondsPerRate);
    const after = await ownClock(metricsUrl);
    const withinTenMs = round((100 * (after.withinTenMs - before.withinTenMs)) / (after.count - before.count));
    context.log(
      `${cores}, ${rate}/s: ${JSON.stringify(distribution(result.latencies))}, ${result.errors} errors, ${withinTenMs}% within 10 ms by confighash's clock`,
    );
    runs.push({ label: `${rate}/s, ${cores}`, result, withinTenMs });
  }
  const cpuBefore = await metricValue(metricsUrl, 'process_cpu_seconds_total');
  const saturation = await closedLoop(target, plan.saturationConcurrency, plan.saturationSeconds);
  const cpu = ((await metricValue(metricsUrl, 'process_cpu_seconds_total')) - cpuBefore) / saturation.seconds;
  const throughput = saturation.latencies.length / saturation.seconds;
  context.log(
    `${cores}, saturation: ${throughput.toFixed(0)}/s at ${plan.saturationConcurrency} in flight, confighash using ${cpu.toFixed(2)} cores`,
  );
  runs.push({ label: `saturation (${plan.saturationConcurrency} in flight), ${cores}`, result: saturation });
  return { runs, saturation: { throughput, cpu } };
}

interface Run {
  label: string;
  result: LoadResult;
  /** % of requests confighash's own histogram (reads included, HTTPS and queueing outside it excluded) saw answered within 10 ms. */
  withinTenMs?: number;
}

/** confighash's own count of patched admissions, and of those answered within 10 ms. */
async function ownClock(metricsUrl: string): Promise<{ count: number; withinTenMs: number }> {
  const [count, withinTenMs] = await Promise.all([
    metricValue(metricsUrl, 'confighash_webhook_duration_seconds_count{result="patched"}'),
    metricValue(metricsUrl, 'confighash_webhook_duration_seconds_bucket{le="0.01",result="patched"}'),
  ]);
  return { count, withinTenMs };
}

function report(
  plan: Plan,
  processing: LatencySeries,
  { shared, pinned }: { shared: Series; pinned: Series },
  pinning: Pinning,
): ScenarioReport {
  const runs = [...shared.runs, ...pinned.runs];
  const latencies = [
    processing,
    ...runs.map(({ label, result }) => ({
      name: `admission at ${label}`,
      distribution: distribution(result.latencies),
    })),
  ];
  const errors = runs.reduce((sum, { result }) => sum + result.errors, 0);
  const firstError = runs.find(({ result }) => result.firstError)?.result.firstError;
  const p99At200 = (cores: string): number | undefined =>
    latencies.find((l) => l.name === `admission at 200/s, ${cores}`)?.distribution.p99;
  // confighash runs its JavaScript on one thread: admissions per second of its CPU time is the one-core figure.
  const perCore = (series: Series): number => Math.round(series.saturation.throughput / series.saturation.cpu);
  const saturationFigure = (series: Series): string =>
    `${perCore(series)}/s per core of confighash CPU (${Math.round(series.saturation.throughput)}/s measured, confighash using ${round(series.saturation.cpu)} cores)`;
  const pinnedNote = `confighash alone on CPU ${pinning.confighashCpus}; the control plane and the load on CPU ${pinning.othersCpus}`;
  const pinned200 = p99At200('pinned');
  const targets: TargetCheck[] = [
    {
      name: 'webhook processing p99, excluding API reads',
      kind: 'performance',
      goal: '≤ 2 ms',
      measured: `${processing.distribution.p99} ms`,
      met: processing.distribution.p99 <= 2,
    },
    ...(pinned200 === undefined
      ? []
      : [
          {
            name: 'admission p99 at 200/s, pinned',
            kind: 'performance' as const,
            goal: '≤ 10 ms',
            measured: `${pinned200} ms (shared: ${p99At200('shared') ?? '—'} ms)`,
            met: pinned200 <= 10,
            note: pinnedNote,
          },
        ]),
    {
      name: 'saturation throughput, pinned',
      kind: 'performance',
      goal: '≥ 1500/s per core',
      measured: `${saturationFigure(pinned)}; shared: ${saturationFigure(shared)}`,
      met: perCore(pinned) >= 1500,
      note: pinnedNote,
    },
    {
      name: 'failed admissions',
      kind: 'correctness',
      goal: '0',
      measured: String(errors),
      met: errors === 0,
      ...(firstError ? { note: firstError } : {}),
    },
  ];
  return {
    scenario: 'admission',
    title: 'Admission latency and throughput',
    settings: {
      rates: plan.rates.join(', '),
      secondsPerRate: plan.secondsPerRate,
      connections: 16,
      saturationConcurrency: plan.saturationConcurrency,
      pinned: pinnedNote,
    },
    latencies,
    tables: [
      {
        title:
          'Latency (ms), from when each request was due to its full response; shared: every process on every core, pinned: ' +
          pinnedNote,
        columns: ['load', 'requests', 'median', 'p95', 'p99', 'max', 'errors', "within 10 ms by confighash's clock"],
        rows: [
          [
            'in-process, no API reads',
            processing.distribution.count,
            processing.distribution.median,
            processing.distribution.p95,
            processing.distribution.p99,
            processing.distribution.max,
            0,
            '',
          ],
          ...runs.map(({ label, result, withinTenMs }) => {
            const d = distribution(result.latencies);
            return [
              label,
              d.count,
              d.median,
              d.p95,
              d.p99,
              d.max,
              result.errors,
              withinTenMs === undefined ? '' : `${withinTenMs}%`,
            ];
          }),
        ],
      },
    ],
    targets,
    data: {
      shared: {
        saturationPerSecond: Math.round(shared.saturation.throughput),
        saturationCores: round(shared.saturation.cpu),
        perCoreSecond: perCore(shared),
      },
      pinned: {
        saturationPerSecond: Math.round(pinned.saturation.throughput),
        saturationCores: round(pinned.saturation.cpu),
        perCoreSecond: perCore(pinned),
        cpuMsPerAdmission: round((1000 * pinned.saturation.cpu) / pinned.saturation.throughput),
      },
      errors,
    },
  };
}

/** A ConfigMap of application settings, a ConfigMap of feature flags, and a Secret. */
function sources(): object[] {
  const settings = Object.fromEntries(
    Array.from({ length: 20 }, (_, i) => [`SETTING_${i}`, randomBytes(48).toString('hex')]),
  );
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app' }, data: settings },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'features' },
      data: { 'flags.yaml': 'checkout: true\nsearch-v2: false\n'.repeat(20) },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'db' },
      stringData: { username: 'app', password: randomBytes(24).toString('base64') },
    },
  ];
}

/** A Deployment as a Helm chart renders one: env from the settings, a Secret key, flags mounted. */
export function realisticDeployment(namespace: string): object {
  const labels = {
    'app.kubernetes.io/name': 'shop',
    'app.kubernetes.io/instance': 'shop',
    'app.kubernetes.io/version': '4.2.1',
  };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'shop', namespace, labels },
    spec: {
      replicas: 3,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'shop', 'app.kubernetes.io/instance': 'shop' } },
      template: {
        metadata: { labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' } },
        spec: {
          containers: [
            {
              name: 'shop',
              image: 'registry.example.com/shop:4.2.1',
              ports: [
                { name: 'http', containerPort: 8080 },
                { name: 'metrics', containerPort: 9090 },
              ],
              envFrom: [{ configMapRef: { name: 'app' } }],
              env: [
                { name: 'DB_USER', valueFrom: { secretKeyRef: { name: 'db', key: 'username' } } },
                { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
                { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              ],
              resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '512Mi' } },
              readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5 },
              livenessProbe: { httpGet: { path: '/live', port: 'http' }, periodSeconds: 10 },
              volumeMounts: [{ name: 'features', mountPath: '/etc/shop/features', readOnly: true }],
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
            },
          ],
          volumes: [{ name: 'features', configMap: { name: 'features' } }],
        },
      },
    },
  };
}

function admissionRequest(namespace: string): AdmissionRequest & Record<string, unknown> {
  return {
    uid: randomUUID(),
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    requestKind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    requestResource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'shop',
    namespace,
    operation: 'CREATE',
    userInfo: { username: 'ci-deployer', groups: ['system:authenticated'] },
    object: realisticDeployment(namespace),
    oldObject: null,
    dryRun: false,
    options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
  };
}

function reviewBody(namespace: string): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: admissionRequest(namespace),
  });
}

function checkPatched(status: number, body: string): void {
  if (status !== 200) throw new Error(`HTTP ${status}: ${body.slice(0, 200)}`);
  const { response } = JSON.parse(body) as { response?: { allowed?: boolean; patch?: string } };
  if (response?.allowed !== true || !response.patch) throw new Error(`not a patch: ${body.slice(0, 200)}`);
}

/**
 * The webhook's own work per request: parse the review, extract the references,
 * digest, build the patch, serialise the answer, with the sources read once,
 * beforehand, from the apiserver.
 */
async function processingTimes(namespace: string, iterations: number): Promise<LatencySeries> {
  const valueKey = randomBytes(32);
  const hasher = new ValueHasher(new HmacKeyring({ valueKey, keys: [], signingId: keyId(valueKey) }));
  const live = new LiveSourceReader(loadKubeConfig(), hasher, { concurrency: 8, timeoutMs: 5000 });
  const request = admissionRequest(namespace);
  const spec = request.object?.spec?.template?.spec ?? {};
  const states = await live.read(namespace, consumedSources(spec, {}));
  const reader: SourceReader = { read: () => Promise.resolve(states) };
  const handler = new AdmissionHandler({
    reader,
    hasher,
    logger: createLogger('error'),
    metrics: new Metrics(new Registry()),
    scope: { lookUp: () => Promise.resolve({ defaults: {} }) },
    deadlineMs: 5000,
  });
  const body = reviewBody(namespace);
  const once = async (): Promise<number> => {
    const started = performance.now();
    const answer = JSON.stringify(reviewResponse(await handler.admit(parseAdmissionReview(JSON.parse(body)))));
    if (!answer.includes('"patch"')) throw new Error('the in-process webhook did not patch');
    return performance.now() - started;
  };
  for (let i = 0; i < Math.min(1000, iterations); i++) await once(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) samples.push(await once());
  return { name: 'webhook processing (in-process, no API reads)', distribution: distribution(samples) };
}
