// What `status` and `explain` report: for each tracked workload, its sources, the
// digests stored in its pod template and the digests its sources have now (read
// live, with the same checksum engine the webhook and controller use), and so
// its state.
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  type ConsumedSource,
  consumedSources,
  currentFingerprint,
  isIgnored,
  MISSING,
  NAMESPACE_LABEL,
  parseBaseline,
  parseSourcesSummary,
  type Stamp,
  type Subject,
  ValueHasher,
  verify,
  type WorkloadKind,
} from '../checksum/index.ts';
import { loadKeyring } from '../kube/hmac-key.ts';
import { forEachConcurrently, LiveSourceReader } from '../kube/source-reader.ts';

/** Workloads reported on at once, each reading up to 8 sources at once. */
const WORKLOADS_AT_ONCE = 8;

export type WorkloadState = 'current' | 'pending' | 'missing-source' | 'ignored' | 'not-adopted';

export interface SourceReport {
  id: string;
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
  storedChecksum: string | undefined;
  currentChecksum: string;
  sources: SourceReport[];
}

export interface Inspector {
  /** Namespaces that opted in. */
  optedInNamespaces(): Promise<string[]>;
  /** Every workload with sources in `namespace`. */
  workloads(namespace: string): Promise<WorkloadReport[]>;
}

interface WorkloadLike {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { template?: { metadata?: { annotations?: Record<string, string> }; spec?: object } };
}

export async function createInspector(config: KubeConfig, confighashNamespace: string): Promise<Inspector> {
  const core = config.makeApiClient(CoreV1Api);
  const apps = config.makeApiClient(AppsV1Api);
  const hasher = new ValueHasher(await loadKeyring(core, confighashNamespace));
  const reporter = new WorkloadReporter(hasher, new LiveSourceReader(config, hasher, { concurrency: 8, timeoutMs: 10_000 }));
  return {
    async optedInNamespaces() {
      const list = await core.listNamespace({ labelSelector: `${NAMESPACE_LABEL}=true` });
      return list.items.flatMap((ns) => (ns.metadata?.name ? [ns.metadata.name] : [])).sort();
    },
    async workloads(namespace) {
      const [deployments, statefulSets, daemonSets] = await Promise.all([
        apps.listNamespacedDeployment({ namespace }),
        apps.listNamespacedStatefulSet({ namespace }),
        apps.listNamespacedDaemonSet({ namespace }),
      ]);
      const all: [WorkloadKind, WorkloadLike][] = [
        ...deployments.items.map((w): [WorkloadKind, WorkloadLike] => ['Deployment', w]),
        ...statefulSets.items.map((w): [WorkloadKind, WorkloadLike] => ['StatefulSet', w]),
        ...daemonSets.items.map((w): [WorkloadKind, WorkloadLike] => ['DaemonSet', w]),
      ];
      // A bounded number at a time: thousands of workloads must not mean thousands of reads at once.
      const reports: (WorkloadReport | undefined)[] = new Array<WorkloadReport | undefined>(all.length);
      await forEachConcurrently(all.map((entry, i) => ({ entry, i })), WORKLOADS_AT_ONCE, async ({ entry: [kind, w], i }) => {
        reports[i] = await reporter.report(namespace, kind, w);
      });
      return reports.filter((r): r is WorkloadReport => r !== undefined);
    },
  };
}

class WorkloadReporter {
  readonly #hasher: ValueHasher;
  readonly #reader: LiveSourceReader;

  constructor(hasher: ValueHasher, reader: LiveSourceReader) {
    this.#hasher = hasher;
    this.#reader = reader;
  }

  /** The report on `workload`, or undefined when it consumes nothing. */
  async report(namespace: string, kind: WorkloadKind, workload: WorkloadLike): Promise<WorkloadReport | undefined> {
    const { annotations, templateAnnotations, podSpec } = partsOf(workload);
    const sources = consumedSources(podSpec, annotations);
    if (sources.length === 0) return undefined;
    const states = await this.#reader.read(namespace, sources);
    const subject: Subject = { namespace, sources, stateOf: (id) => states.get(id) ?? { exists: false } };
    const stored = storedStamp(annotations, templateAnnotations);
    const { current, upToDate } = this.#compare(stored, subject);
    const currentShort = parseSourcesSummary(current?.sources);
    const storedShort = parseSourcesSummary(stored?.sources);
    const state = stateOf({
      ignored: isIgnored(annotations),
      adopted: stored !== undefined,
      missing: sources.some((s) => !s.optional && !subject.stateOf(s.id).exists),
      upToDate,
    });
    return {
      namespace,
      kind,
      name: workload.metadata?.name ?? '',
      state,
      storedChecksum: stored?.checksum,
      currentChecksum: current?.checksum ?? '',
      sources: sources.map((source) => sourceReport(source, storedShort.get(source.id), currentShort.get(source.id) ?? MISSING)),
    };
  }

  /** The stamp the template should carry now; a stamp current in its own format is kept, so it is what is current. */
  #compare(stored: Stamp | undefined, subject: Subject): { current: Stamp | undefined; upToDate: boolean } {
    if (stored && verify(this.#hasher, stored, subject).kind === 'current') return { current: stored, upToDate: true };
    return { current: currentFingerprint(this.#hasher, subject)?.stamp, upToDate: false };
  }
}

/** The template's stamp, else the baseline recorded when the workload was adopted. */
function storedStamp(annotations: Record<string, string>, templateAnnotations: Record<string, string>): Stamp | undefined {
  const checksum = templateAnnotations[ANNOTATION.checksum];
  if (checksum === undefined) return parseBaseline(annotations[BASELINE_ANNOTATION]);
  return { checksum, sources: templateAnnotations[ANNOTATION.sources] ?? '' };
}

function partsOf(workload: WorkloadLike): {
  annotations: Record<string, string>;
  templateAnnotations: Record<string, string>;
  podSpec: object;
} {
  const template = workload.spec?.template;
  return {
    annotations: workload.metadata?.annotations ?? {},
    templateAnnotations: template?.metadata?.annotations ?? {},
    podSpec: template?.spec ?? {},
  };
}

function stateOf(facts: { ignored: boolean; adopted: boolean; missing: boolean; upToDate: boolean }): WorkloadState {
  if (facts.ignored) return 'ignored';
  if (!facts.adopted) return 'not-adopted';
  if (facts.missing) return 'missing-source';
  return facts.upToDate ? 'current' : 'pending';
}

function sourceReport(source: ConsumedSource, stored: string | undefined, current: string): SourceReport {
  return {
    id: source.id,
    keys: source.keys.all ? '*' : [...source.keys.keys].sort(),
    referencedBy: [...source.sites],
    stored,
    current,
  };
}
