// What `status` and `explain` report: for each tracked workload, its sources, the
// digests stored in its pod template and the digests its sources have now (read
// live, with the same checksum engine the webhook and controller use), and so
// its state.
import { AppsV1Api, BatchV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  type ConsumedSource,
  consumedSources,
  currentFingerprint,
  isIgnored,
  MAX_SOURCES_PER_WORKLOAD,
  MISSING,
  parseBaseline,
  parseSourcesSummary,
  type PodSpecLike,
  podTemplateOf,
  RELOADED_ANNOTATION,
  reloadDecision,
  reloadedVolumes,
  ROLLOUT_ANNOTATION,
  type SourceId,
  type SourceState,
  type Stamp,
  type Subject,
  trackingAnnotations,
  ValueHasher,
  verify,
  volumeSources,
  WORKLOAD_APIS,
  type WorkloadKind,
} from '../checksum/index.ts';
import { isNotFound } from '../kube/errors.ts';
import { apiPath, requestJson } from '../kube/raw.ts';
import { type AgentStatusReader, apiAgentStatusReader } from '../workloads/agent-status.ts';
import { progressOf, type Progress, type RawWorkload } from '../policy/progress.ts';
import {
  formatLabelSelector,
  type LabelSelector,
  type LabelSelectorLike,
  matchesLabels,
} from '../scope/label-selector.ts';
import type { SourceFilter } from '../sources/filter.ts';
import { loadKeyring } from '../keys/hmac-key.ts';
import { apiSecretStore } from '../kube/secrets.ts';
import { forEachConcurrently, LiveSourceReader } from '../sources/reader.ts';

/** Workloads reported on at once, each reading up to 8 sources at once. */
const WORKLOADS_AT_ONCE = 8;

export type WorkloadState =
  | 'current'
  | 'pending'
  | 'deferred'
  | 'awaiting-approval'
  | 'rolling'
  | 'failed'
  | 'missing-source'
  | 'ignored'
  | 'not-adopted'
  | 'too-many-sources'
  | 'reloaded'
  | 'reloading'
  | 'reload-failed';

export interface SourceReport {
  id: string;
  /** How a change of it reaches the pods: a rollout, or a reload in place by the agent. */
  delivery: 'rollout' | 'reload';
  /** `*` for every key, else the consumed keys. */
  keys: string[] | '*';
  referencedBy: string[];
  stored: string | undefined;
  current: string;
}

export interface WorkloadReport {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  state: WorkloadState;
  /** What the state says more: `window opens Sat 02:00 UTC`, `2/5 updated`, why a rollout failed or awaits approval. */
  detail?: string;
  storedChecksum: string | undefined;
  currentChecksum: string;
  sources: SourceReport[];
  /** With the reload strategy: the trigger, and what each pod's agent reports. */
  reload?: { trigger: string; container: string; pods: PodReload[] };
}

export interface PodReload {
  pod: string;
  /** `reloaded` (runs what its agent last reloaded or started with), `waiting`, `reloading`, `failed`, or `unknown` (no status logged). */
  state: string;
  reloads: number;
  lastSuccess?: string;
  error?: string;
}

export interface Inspector {
  /** Namespaces that opted in. */
  optedInNamespaces(): Promise<string[]>;
  /** Every workload with sources in `namespace`. */
  workloads(namespace: string): Promise<WorkloadReport[]>;
}

interface WorkloadLike extends RawWorkload {
  metadata?: { name?: string; uid?: string; annotations?: Record<string, string>; generation?: number };
  spec?: NonNullable<RawWorkload['spec']> & {
    selector?: LabelSelectorLike;
    template?: { metadata?: { annotations?: Record<string, string> }; spec?: object };
  };
}

export interface InspectorOptions {
  /** The namespaces confighash acts in (for every namespace at once). */
  namespaces: LabelSelector;
  /** How sources count, as confighash counts them. */
  sources: SourceFilter;
}

export async function createInspector(
  config: KubeConfig,
  confighashNamespace: string,
  options: InspectorOptions,
): Promise<Inspector> {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const batch = config.makeApiClient(BatchV1Api);
  const hasher = new ValueHasher(await loadKeyring(apiSecretStore(config), confighashNamespace));
  const reporter = new WorkloadReporter(
    hasher,
    new LiveSourceReader(config, hasher, { concurrency: 8, timeoutMs: 10_000, filter: options.sources }),
    apiAgentStatusReader(config),
    options.sources.reloaderAnnotations,
  );
  return {
    async optedInNamespaces() {
      const list = await core.listNamespace();
      return list.items
        .flatMap((ns) =>
          ns.metadata?.name && matchesLabels(options.namespaces, ns.metadata.labels ?? {}) ? [ns.metadata.name] : [],
        )
        .sort();
    },
    async workloads(namespace) {
      const [deployments, statefulSets, daemonSets, cronJobs, rollouts] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }),
        apps.listNamespacedStatefulSet({ namespace }),
        apps.listNamespacedDaemonSet({ namespace }),
        batch.listNamespacedCronJob({ namespace }),
        argoRollouts(config, namespace),
      ]);
      const all: [WorkloadKind, WorkloadLike][] = [
        ...deployments.items.map((w): [WorkloadKind, WorkloadLike] => ['Deployment', w]),
        ...statefulSets.items.map((w): [WorkloadKind, WorkloadLike] => ['StatefulSet', w]),
        ...daemonSets.items.map((w): [WorkloadKind, WorkloadLike] => ['DaemonSet', w]),
        ...cronJobs.items.map((w): [WorkloadKind, WorkloadLike] => ['CronJob', w as WorkloadLike]),
        ...rollouts.map((w): [WorkloadKind, WorkloadLike] => ['Rollout', w]),
      ];
      // A bounded number at a time: thousands of workloads must not mean thousands of reads at once.
      const reports: (WorkloadReport | undefined)[] = new Array<WorkloadReport | undefined>(all.length);
      await forEachConcurrently(
        all.map((entry, i) => ({ entry, i })),
        WORKLOADS_AT_ONCE,
        async ({ entry: [kind, w], i }) => {
          reports[i] = await reporter.report(namespace, kind, w);
        },
      );
      return reports.filter((r): r is WorkloadReport => r !== undefined);
    },
  };
}

/** The namespace's Argo Rollouts; none when Argo Rollouts is not installed. */
async function argoRollouts(config: KubeConfig, namespace: string): Promise<WorkloadLike[]> {
  const { group, version, resource } = WORKLOAD_APIS.Rollout;
  try {
    const list = await requestJson<{ items?: WorkloadLike[] }>(config, {
      method: 'GET',
      path: apiPath(`/apis/${group}/${version}`, 'namespaces', namespace, resource),
      timeoutMs: 30_000,
    });
    return list.items ?? [];
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

class WorkloadReporter {
  readonly #hasher: ValueHasher;
  readonly #reader: LiveSourceReader;
  readonly #agents: AgentStatusReader;
  readonly #reloaderAnnotations: boolean;

  constructor(hasher: ValueHasher, reader: LiveSourceReader, agents: AgentStatusReader, reloaderAnnotations: boolean) {
    this.#hasher = hasher;
    this.#reader = reader;
    this.#agents = agents;
    this.#reloaderAnnotations = reloaderAnnotations;
  }

  /** The report on `workload`, or undefined when it consumes nothing. */
  async report(namespace: string, kind: WorkloadKind, workload: WorkloadLike): Promise<WorkloadReport | undefined> {
    const parts = partsOf(kind, workload, this.#reloaderAnnotations);
    const volumes = reloadedVolumes(parts.podSpec, parts.annotations);
    const sources = consumedSources(parts.podSpec, parts.annotations, volumes);
    const reloaded = volumeSources(parts.podSpec, volumes);
    if (sources.length + reloaded.length === 0) return undefined;
    const base = { namespace, kind, name: workload.metadata?.name ?? '' };
    if (sources.length > MAX_SOURCES_PER_WORKLOAD)
      return { ...base, state: 'too-many-sources', storedChecksum: undefined, currentChecksum: '', sources: [] };
    const states = await this.#reader.read(namespace, [...sources, ...reloaded]);
    const stateOf = (id: SourceId): SourceState => states.get(id) ?? { exists: false };
    const reload = reloaded.length > 0 ? await this.#reload({ namespace, kind }, workload, parts) : undefined;
    const assessed = this.#assess(
      parts,
      { namespace, sources, stateOf },
      { namespace, sources: reloaded, stateOf },
      reload,
    );
    return { ...base, ...assessed, ...rolloutState(assessed, parts.annotations, progressOf(kind, workload)) };
  }

  /** State, checksums and sources of a workload whose sources are read: `rolling` what rolls, `reloaded` what its agent reloads. */
  #assess(
    parts: ReturnType<typeof partsOf>,
    rolling: Subject,
    reloaded: Subject,
    reload: WorkloadReport['reload'],
  ): Omit<WorkloadReport, 'namespace' | 'kind' | 'name'> {
    const stored = storedStamp(parts.annotations, parts.templateAnnotations);
    const { current, upToDate } = this.#compare(stored, rolling);
    const mark = parseBaseline(parts.annotations[RELOADED_ANNOTATION]);
    const state = workloadState({
      ignored: isIgnored(parts.annotations),
      adopted: stored !== undefined || rolling.sources.length === 0,
      missing: [...rolling.sources, ...reloaded.sources].some((s) => !s.optional && !rolling.stateOf(s.id).exists),
      upToDate,
      reload: this.#reloadState(reload, mark, reloaded),
    });
    const reloadedNow = currentFingerprint(this.#hasher, reloaded)?.stamp;
    const sources = [
      ...sourceReports(rolling.sources, 'rollout', stored?.sources, current?.sources),
      ...sourceReports(reloaded.sources, 'reload', mark?.sources, reloadedNow?.sources),
    ];
    return {
      state,
      storedChecksum: stored?.checksum,
      currentChecksum: current?.checksum ?? '',
      sources,
      ...optional('reload', reload),
    };
  }

  /** The stamp the template should carry now; a stamp current in its own format is kept, so it is what is current. */
  #compare(stored: Stamp | undefined, subject: Subject): { current: Stamp | undefined; upToDate: boolean } {
    if (subject.sources.length === 0) return { current: undefined, upToDate: true };
    if (stored && verify(this.#hasher, stored, subject).kind === 'current') return { current: stored, upToDate: true };
    return { current: currentFingerprint(this.#hasher, subject)?.stamp, upToDate: false };
  }

  async #reload(
    { namespace, kind }: { namespace: string; kind: WorkloadKind },
    workload: WorkloadLike,
    { podSpec, annotations }: ReturnType<typeof partsOf>,
  ): Promise<WorkloadReport['reload']> {
    const decision = reloadDecision(podSpec, annotations);
    const target = {
      kind,
      namespace,
      name: workload.metadata?.name ?? '',
      uid: workload.metadata?.uid ?? '',
      selector: formatLabelSelector(workload.spec?.selector ?? {}),
    };
    const names = await this.#agents.pods(target).catch((): string[] => []);
    const agents = await Promise.all(
      names.map(async (name) => ({ name, report: await this.#agents.report(namespace, name).catch(() => undefined) })),
    );
    const pods = agents.map(({ name, report }): PodReload => ({
      pod: name,
      state: report ? (report.state === 'current' ? 'reloaded' : report.state) : 'unknown',
      reloads: report?.reloads ?? 0,
      ...(report?.lastSuccess ? { lastSuccess: report.lastSuccess } : {}),
      ...(report?.lastError ? { error: report.lastError } : {}),
    }));
    return decision.kind === 'plan'
      ? { trigger: decision.plan.triggerText, container: decision.plan.container, pods }
      : undefined;
  }

  /** Where the reload of the reloaded sources stands: delivered to every pod, under way, or failed. */
  #reloadState(reload: WorkloadReport['reload'], mark: Stamp | undefined, subject: Subject): WorkloadState | undefined {
    if (!reload) return undefined;
    const { pods } = reload;
    if (pods.some((p) => p.state === 'failed')) return 'reload-failed';
    const delivered = mark !== undefined && verify(this.#hasher, mark, subject).kind === 'current';
    return delivered && pods.every((p) => p.state === 'reloaded') ? 'reloaded' : 'reloading';
  }
}

/** `{ [key]: value }`, or nothing when `value` is undefined. */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** The template's stamp, else the baseline recorded when the workload was adopted. */
function storedStamp(
  annotations: Record<string, string>,
  templateAnnotations: Record<string, string>,
): Stamp | undefined {
  const checksum = templateAnnotations[ANNOTATION.checksum];
  if (checksum === undefined) return parseBaseline(annotations[BASELINE_ANNOTATION]);
  return { checksum, sources: templateAnnotations[ANNOTATION.sources] ?? '' };
}

function partsOf(
  kind: WorkloadKind,
  workload: WorkloadLike,
  reloaderAnnotations: boolean,
): {
  annotations: Record<string, string>;
  templateAnnotations: Record<string, string>;
  podSpec: PodSpecLike;
} {
  const template = podTemplateOf(kind, workload) as NonNullable<WorkloadLike['spec']>['template'];
  const templateAnnotations = template?.metadata?.annotations ?? {};
  const own = workload.metadata?.annotations ?? {};
  return {
    annotations: { ...trackingAnnotations(kind, own, reloaderAnnotations, templateAnnotations) },
    templateAnnotations,
    podSpec: template?.spec ?? {},
  };
}

/**
 * The state of confighash's own rollout, where it says more than `current` or
 * `pending`: held back (deferred, awaiting approval, as the controller recorded
 * it for the configuration due now), under way, or failed.
 */
function rolloutState(
  report: Pick<WorkloadReport, 'state' | 'storedChecksum' | 'currentChecksum'>,
  annotations: Record<string, string>,
  progress: Progress,
): Partial<Pick<WorkloadReport, 'state' | 'detail'>> {
  if (report.state === 'pending') return held(annotations[ROLLOUT_ANNOTATION.deferred], report.currentChecksum);
  if (report.state !== 'current' && report.state !== 'reloaded') return {};
  const [checksum] = (annotations[ROLLOUT_ANNOTATION.started] ?? '').split(' ');
  return checksum && checksum === report.storedChecksum
    ? followed(annotations[ROLLOUT_ANNOTATION.result], progress)
    : {};
}

/** A pending rollout the controller holds back for `due` (confighash.dev/deferred: `<checksum> <reason> <detail>`). */
function held(deferred: string | undefined, due: string): Partial<Pick<WorkloadReport, 'state' | 'detail'>> {
  const [checksum = '', reason = '', ...detail] = (deferred ?? '').split(' ');
  if (checksum !== due) return {};
  return { state: reason === 'approval' ? 'awaiting-approval' : 'deferred', detail: detail.join(' ') };
}

/** confighash's last rollout of the template as it is: failed (confighash.dev/rollout-result), or still under way. */
function followed(result: string | undefined, progress: Progress): Partial<Pick<WorkloadReport, 'state' | 'detail'>> {
  const [outcome = '', , ...why] = (result ?? '').split(' ');
  if (outcome === 'failed') return { state: 'failed', detail: why.join(' ') };
  return !outcome && progress.state === 'progressing'
    ? { state: 'rolling', detail: `${progress.updated}/${progress.desired} updated` }
    : {};
}

function workloadState(facts: {
  ignored: boolean;
  adopted: boolean;
  missing: boolean;
  upToDate: boolean;
  reload: WorkloadState | undefined;
}): WorkloadState {
  if (facts.ignored) return 'ignored';
  if (!facts.adopted) return 'not-adopted';
  if (facts.missing) return 'missing-source';
  if (!facts.upToDate) return 'pending';
  return facts.reload ?? 'current';
}

function sourceReports(
  sources: readonly ConsumedSource[],
  delivery: SourceReport['delivery'],
  stored: string | undefined,
  current: string | undefined,
): SourceReport[] {
  const storedShort = parseSourcesSummary(stored);
  const currentShort = parseSourcesSummary(current);
  return sources.map((source) =>
    sourceReport(source, delivery, storedShort.get(source.id), currentShort.get(source.id) ?? MISSING),
  );
}

function sourceReport(
  source: ConsumedSource,
  delivery: SourceReport['delivery'],
  stored: string | undefined,
  current: string,
): SourceReport {
  return {
    id: source.id,
    delivery,
    keys: source.keys.all ? '*' : [...source.keys.keys].sort(),
    referencedBy: [...source.sites],
    stored,
    current,
  };
}
