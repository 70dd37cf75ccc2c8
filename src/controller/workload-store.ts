// What the controller knows of every Deployment, StatefulSet, DaemonSet and CronJob: the
// sources each consumes and the annotations confighash manages on it (nothing
// else of the object), and the index from a source to the workloads consuming
// it, so that a change finds its workloads without asking the API server.
import { isDeepStrictEqual } from 'node:util';
import {
  boundedAnnotations,
  ANNOTATION,
  BASELINE_ANNOTATION,
  type ConsumedSource,
  consumedSources,
  isIgnored,
  isReloaderWorkload,
  MAX_SOURCES_PER_WORKLOAD,
  podTemplateOf,
  type PodSpecLike,
  RELOADED_ANNOTATION,
  ROLLOUT_ANNOTATION,
  reloadDecision,
  reloadedVolumes,
  type ReloadPlan,
  volumeSources,
  type SourceId,
  trackingAnnotations,
  type WorkloadKind,
  WORKLOAD_APIS,
} from '../checksum/index.ts';
import { RUN_NOW_ANNOTATION } from '../workloads/cronjob-runner.ts';
import type { Arrival, KubeObject, WatchHandler } from '../kube/watcher.ts';
import { POLICY_ANNOTATION } from '../policy/gate.ts';
import { progressOf, type Progress, type RawWorkload } from '../policy/progress.ts';
import { formatLabelSelector, type LabelSelectorLike } from '../scope/label-selector.ts';
import type { WorkloadCreation } from './adoption.ts';

export interface WorkloadRecord {
  /** `Kind/namespace/name` */
  key: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  /** metadata.generation: it moves with every change of the spec. */
  generation: number | undefined;
  /** Whether its annotations maps have a key: its own, and its pod template's (how a patch may add to them). */
  annotated: { workload: boolean; template: boolean };
  ignored: boolean;
  /** What the workload consumes; empty when it consumes more than confighash tracks. */
  sources: readonly ConsumedSource[];
  /** How many sources it consumes (more than `sources` holds when over the bound). */
  consumedCount: number;
  /** With the reload strategy (and its agent in the template): what is reloaded in place, and how. Not in `sources`. */
  reload: { plan: ReloadPlan; sources: readonly ConsumedSource[] } | undefined;
  /** Its annotations over their limit (src/checksum/annotation-limits.ts), refused unread: what to tell its owner. */
  refused?: readonly string[];
  /** Its pods' label selector (`a=b,c in (d)`, matchExpressions too), to find them for their agents' status. */
  selector: string;
  /** Its confighash.dev/reloaded annotation: the reloaded sources' stamp every pod confirmed. */
  reloadedMark: string | undefined;
  /** Its rollout policy annotations (window, time zone, min-interval, wait-for-rollout). */
  policy: Readonly<Record<string, string>>;
  /** How far its current rollout has got, from its status. */
  progress: Progress;
  /** The config rollout confighash last started (confighash.dev/rollout), and how it ended (confighash.dev/rollout-result). */
  rollout: { checksum: string; startedAt: Date } | undefined;
  rolloutResult: string | undefined;
  /** Why confighash holds a config rollout back (confighash.dev/deferred: `<checksum> <reason> <detail>`). */
  deferred: string | undefined;
  /** The pod template's confighash annotations. */
  stamped: { checksum: string | undefined; sources: string | undefined };
  baseline: string | undefined;
  /** A CronJob with confighash.dev/cronjob-run-now: "true": a config rollout also starts one Job. */
  runNow: boolean;
  /** It carries Reloader's annotations (read with --reloader-annotations): tracked in any namespace. */
  reloader: boolean;
  /** Its creation, as far as the store knows it: what an adoption compares its sources' changes with (adoption.ts). */
  creation: WorkloadCreation;
}

export interface WorkloadObject extends KubeObject, RawWorkload {
  metadata?:
    | (KubeObject['metadata'] & {
        annotations?: Record<string, string> | null;
        generation?: number;
        creationTimestamp?: string;
      })
    | null;
  spec?:
    | (NonNullable<RawWorkload['spec']> & {
        selector?: LabelSelectorLike | null;
        template?: {
          metadata?: { annotations?: Record<string, string> | null } | null;
          spec?: PodSpecLike | null;
        } | null;
      })
    | null;
}

export type WorkloadChangeListener = (key: string) => void;

export function workloadKey(kind: WorkloadKind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export class WorkloadStore {
  /** --reloader-annotations: whether Reloader's annotations are read. */
  readonly #reloaderAnnotations: boolean;
  readonly #records = new Map<string, WorkloadRecord>();
  /** `namespace/sourceId` → keys of the workloads consuming it */
  readonly #consumers = new Map<string, Set<string>>();
  #listener: WorkloadChangeListener = () => undefined;
  #versionListener: WorkloadChangeListener = () => undefined;

  constructor(reloaderAnnotations = true) {
    this.#reloaderAnnotations = reloaderAnnotations;
  }

  onChange(listener: WorkloadChangeListener): void {
    this.#listener = listener;
  }

  /** Told when a workload's resourceVersion moves and nothing confighash tracks changed (its status, mostly). */
  onNewVersion(listener: WorkloadChangeListener): void {
    this.#versionListener = listener;
  }

  get(key: string): WorkloadRecord | undefined {
    return this.#records.get(key);
  }

  keys(): IterableIterator<string> {
    return this.#records.keys();
  }

  get size(): number {
    return this.#records.size;
  }

  consumersOf(namespace: string, id: SourceId): ReadonlySet<string> {
    return this.#consumers.get(`${namespace}/${id}`) ?? new Set();
  }

  inNamespace(namespace: string): string[] {
    return [...this.#records.values()].filter((r) => r.namespace === namespace).map((r) => r.key);
  }

  handler(kind: WorkloadKind): WatchHandler<WorkloadObject> {
    return {
      upsert: (object, arrival) => {
        this.#upsert(kind, object, arrival);
      },
      remove: (object) => {
        this.#remove(workloadKey(kind, object.metadata?.namespace ?? '', object.metadata?.name ?? ''));
      },
      prune: (seen, namespace) => {
        for (const record of [...this.#records.values()]) {
          if (record.kind !== kind || (namespace !== undefined && record.namespace !== namespace)) continue;
          if (!seen.has(`${record.namespace}/${record.name}`)) this.#remove(record.key);
        }
      },
    };
  }

  #upsert(kind: WorkloadKind, object: WorkloadObject, arrival: Arrival | undefined): void {
    const record = toRecord(kind, object, this.#reloaderAnnotations);
    if (!record) return;
    const existing = this.#records.get(record.key);
    if (existing?.resourceVersion === record.resourceVersion) return;
    // Its creation's resourceVersion is known only from the watch event that created it.
    if (existing?.uid === record.uid) record.creation = existing.creation;
    else if (arrival === 'added') record.creation = { ...record.creation, resourceVersion: record.resourceVersion };
    if (existing) this.#unindex(existing);
    this.#records.set(record.key, record);
    this.#index(record);
    // Most updates are status changes; only a change confighash cares about is worth a reconcile.
    if (!existing || !sameTracking(existing, record)) this.#listener(record.key);
    else this.#versionListener(record.key);
  }

  /** Forgets the workload, and says so: its reconcile then drops what the controller remembers of it. */
  #remove(key: string): void {
    const existing = this.#records.get(key);
    if (!existing) return;
    this.#unindex(existing);
    this.#records.delete(key);
    this.#listener(key);
  }

  #index(record: WorkloadRecord): void {
    for (const source of trackedSources(record)) {
      const indexKey = `${record.namespace}/${source.id}`;
      let keys = this.#consumers.get(indexKey);
      if (!keys) this.#consumers.set(indexKey, (keys = new Set()));
      keys.add(record.key);
    }
  }

  #unindex(record: WorkloadRecord): void {
    for (const source of trackedSources(record)) {
      const indexKey = `${record.namespace}/${source.id}`;
      const keys = this.#consumers.get(indexKey);
      keys?.delete(record.key);
      if (keys?.size === 0) this.#consumers.delete(indexKey);
    }
  }
}

/** Every source whose change concerns the workload: what rolls, and what its agent reloads. */
export function trackedSources(record: WorkloadRecord): readonly ConsumedSource[] {
  return record.reload ? [...record.sources, ...record.reload.sources] : record.sources;
}

function toRecord(
  kind: WorkloadKind,
  object: WorkloadObject,
  reloaderAnnotations: boolean,
): WorkloadRecord | undefined {
  const identity = identityOf(object);
  if (!identity) return undefined;
  const annotations = object.metadata?.annotations ?? {};
  const template = (podTemplateOf(kind, object) ?? {}) as NonNullable<NonNullable<WorkloadObject['spec']>['template']>;
  const templateAnnotations = template.metadata?.annotations ?? {};
  const tracking = trackingAnnotations(kind, annotations, reloaderAnnotations, templateAnnotations);
  return {
    key: workloadKey(kind, identity.namespace, identity.name),
    kind,
    ...identity,
    generation: object.metadata?.generation,
    annotated: { workload: Object.keys(annotations).length > 0, template: Object.keys(templateAnnotations).length > 0 },
    ignored: isIgnored(annotations),
    ...refusals(annotations),
    ...consumption(template.spec ?? {}, { ...tracking }),
    reloader: isReloaderWorkload(tracking),
    selector: selectorOf(object),
    stamped: { checksum: templateAnnotations[ANNOTATION.checksum], sources: templateAnnotations[ANNOTATION.sources] },
    baseline: annotations[BASELINE_ANNOTATION],
    reloadedMark: annotations[RELOADED_ANNOTATION],
    runNow: kind === 'CronJob' && annotations[RUN_NOW_ANNOTATION] === 'true',
    ...rolloutFacts(kind, object, annotations),
    creation: creationOf(object),
  };
}

function refusals(annotations: Readonly<Record<string, string>>): Pick<WorkloadRecord, 'refused'> {
  const { refused } = boundedAnnotations(annotations);
  return refused.length > 0 ? { refused } : {};
}

/** Its creationTimestamp; its creation's resourceVersion is added by the store when a watch event shows it. */
function creationOf(object: WorkloadObject): WorkloadCreation {
  const at = Date.parse(object.metadata?.creationTimestamp ?? '');
  return { at: Number.isNaN(at) ? undefined : at };
}

/** What the rollout policies and the following of rollouts read of a workload. */
function rolloutFacts(
  kind: WorkloadKind,
  object: WorkloadObject,
  annotations: Readonly<Record<string, string>>,
): Pick<WorkloadRecord, 'policy' | 'progress' | 'rollout' | 'rolloutResult' | 'deferred'> {
  const policy = Object.fromEntries(
    Object.values(POLICY_ANNOTATION).flatMap((key) =>
      annotations[key] === undefined ? [] : [[key, annotations[key]]],
    ),
  );
  const [checksum, started] = (annotations[ROLLOUT_ANNOTATION.started] ?? '').split(' ');
  const startedAt = new Date(started ?? '');
  return {
    policy,
    progress: progressOf(kind, object),
    rollout: checksum && !Number.isNaN(startedAt.getTime()) ? { checksum, startedAt } : undefined,
    rolloutResult: annotations[ROLLOUT_ANNOTATION.result],
    deferred: annotations[ROLLOUT_ANNOTATION.deferred],
  };
}

/** `a=b,c=d`, from the workload's matchLabels. */
function selectorOf(object: WorkloadObject): string {
  return formatLabelSelector(object.spec?.selector ?? {});
}

/** What the workload consumes: what rolls, and what is reloaded in place. */
function consumption(
  spec: PodSpecLike,
  annotations: Record<string, string>,
): Pick<WorkloadRecord, 'sources' | 'consumedCount' | 'reload'> {
  const reloaded = reloadedVolumes(spec, annotations);
  const sources = consumedSources(spec, annotations, reloaded);
  // Over the bound, nothing is kept or indexed: such a workload is not tracked.
  return {
    sources: sources.length > MAX_SOURCES_PER_WORKLOAD ? [] : sources,
    consumedCount: sources.length,
    reload: reloadOf(spec, annotations, reloaded),
  };
}

function reloadOf(
  spec: PodSpecLike,
  annotations: Record<string, string>,
  volumes: ReadonlySet<string>,
): WorkloadRecord['reload'] {
  const decision = reloadDecision(spec, annotations);
  return decision.kind === 'plan' && volumes.size > 0
    ? { plan: decision.plan, sources: volumeSources(spec, volumes) }
    : undefined;
}

function identityOf(
  object: WorkloadObject,
): { namespace: string; name: string; uid: string; resourceVersion: string } | undefined {
  const { namespace, name, uid, resourceVersion } = object.metadata ?? {};
  if (!namespace || !name) return undefined;
  return { namespace, name, uid: uid ?? '', resourceVersion: resourceVersion ?? '' };
}

/** Equal in everything but resourceVersion and generation (a new image is not confighash's business). */
function sameTracking(a: WorkloadRecord, b: WorkloadRecord): boolean {
  return isDeepStrictEqual({ ...a, resourceVersion: '', generation: 0 }, { ...b, resourceVersion: '', generation: 0 });
}

/** The object an Event about `record` is written on. */ export function workloadEventTarget(record: WorkloadRecord): {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
} {
  const { group, version } = WORKLOAD_APIS[record.kind];
  return {
    apiVersion: `${group}/${version}`,
    kind: record.kind,
    namespace: record.namespace,
    name: record.name,
    uid: record.uid,
  };
}
