// What the controller knows of every ConfigMap and Secret: per-key digests, never
// values, so memory grows with the number of keys and not with their size. It
// tells its owner when a source's digests change; metadata-only edits (labels,
// annotations) do not count. A source that --resource-label-selector does not
// select counts as holding no keys: its edits change nothing, and labelling it
// (or taking its label away) changes what the workloads consuming it are stamped with.
import {
  type KeyDigests,
  type KeySelection,
  type SourceId,
  type SourceKind,
  type SourceState,
  sourceId,
  type ValueHasher,
} from '../checksum/index.ts';
import type { Arrival, KubeObject, WatchHandler } from '../kube/watcher.ts';
import { countedKeys, type FilteredSource, type SourceFilter } from './filter.ts';

/** What the source store knows of one source's history. */
export interface SourceHistory {
  /** The resourceVersion at which its current digests took effect. */
  keysSince: string;
  /** When its current version was written, by its managedFields (ms, to the second); undefined when they do not say. */
  writtenAt: number | undefined;
  /** metadata.creationTimestamp, in ms. */
  createdAt: number | undefined;
  /** The resourceVersion of its creation, when the store saw it created. */
  createdResourceVersion: string | undefined;
  /** The digests before its last change, and since when they were in effect, while the store keeps them. */
  previous: { keys: KeyDigests; keysSince: string } | undefined;
}

export type SourceChangeListener = (namespace: string, id: SourceId) => void;

interface Entry {
  resourceVersion: string;
  keys: KeyDigests;
  /** It carries reloader.stakater.com/match: "true". */
  matched: boolean;
  /** When its digests took effect, and its creation: what adoption.ts needs to know what a workload's pods read. */
  history: Omit<SourceHistory, 'previous'>;
}

interface Previous {
  keys: KeyDigests;
  keysSince: string;
}

type SourceResource = KubeObject &
  FilteredSource & {
    metadata?: { creationTimestamp?: string; managedFields?: readonly { time?: string }[] | null } | null;
  };

/** Sources whose previous digests are kept, to name the keys a rollout is for. */
const PREVIOUS_KEPT = 4096;

export class SourceStore {
  readonly #hasher: ValueHasher;
  readonly #ignoredNamespaces: ReadonlySet<string>;
  /** namespace → source id → entry */
  readonly #entries = new Map<string, Map<SourceId, Entry>>();
  /** `namespace/id` → the digests a source held before its last change, for the most recently changed sources. */
  readonly #previous = new Map<string, Previous>();
  #listener: SourceChangeListener = () => undefined;

  readonly #filter: SourceFilter | undefined;

  constructor(hasher: ValueHasher, ignoredNamespaces: ReadonlySet<string>, filter?: SourceFilter) {
    this.#hasher = hasher;
    this.#ignoredNamespaces = ignoredNamespaces;
    this.#filter = filter;
  }

  onChange(listener: SourceChangeListener): void {
    this.#listener = listener;
  }

  state(namespace: string, id: SourceId): SourceState {
    const entry = this.#entries.get(namespace)?.get(id);
    return entry
      ? { exists: true, keys: entry.keys, matched: entry.matched, resourceVersion: entry.resourceVersion }
      : { exists: false };
  }

  /** What adoption.ts needs of a source's history; undefined when it does not exist. */
  history(namespace: string, id: SourceId): SourceHistory | undefined {
    const entry = this.#entries.get(namespace)?.get(id);
    return entry && { ...entry.history, previous: this.#previous.get(`${namespace}/${id}`) };
  }

  /** Number of sources and of keys held, for metrics and benchmarks. */
  size(): { sources: number; keys: number } {
    let sources = 0;
    let keys = 0;
    for (const byId of this.#entries.values()) {
      sources += byId.size;
      for (const entry of byId.values()) keys += entry.keys.size;
    }
    return { sources, keys };
  }

  /** A watch handler for one kind of source. */
  handler(kind: SourceKind): WatchHandler<SourceResource> {
    return {
      upsert: (object, arrival) => {
        this.#upsert(kind, object, arrival);
      },
      remove: (object) => {
        this.#remove(kind, object);
      },
      prune: (seen, namespace) => {
        this.#prune(kind, seen, namespace);
      },
    };
  }

  #upsert(kind: SourceKind, object: SourceResource, arrival: Arrival | undefined): void {
    const { namespace, name, resourceVersion = '' } = object.metadata ?? {};
    if (!namespace || !name || this.#ignoredNamespaces.has(namespace)) return;
    const id = sourceId(kind, name);
    const byId = this.#namespace(namespace);
    const existing = byId.get(id);
    if (existing?.resourceVersion === resourceVersion) return;
    const entry = this.#entry(kind, object, arrival, existing);
    byId.set(id, entry);
    this.#changed(namespace, id, existing, entry);
  }

  #entry(kind: SourceKind, object: SourceResource, arrival: Arrival | undefined, existing: Entry | undefined): Entry {
    const resourceVersion = object.metadata?.resourceVersion ?? '';
    const counted = countedKeys(this.#hasher, kind, object, this.#filter);
    // A metadata-only edit keeps the history of the digests, which did not change.
    if (existing && sameDigests(existing.keys, counted.keys))
      return { resourceVersion, ...counted, history: existing.history };
    const createdResourceVersion = arrival === 'added' ? resourceVersion : existing?.history.createdResourceVersion;
    return { resourceVersion, ...counted, history: historyOf(object, resourceVersion, createdResourceVersion) };
  }

  /** Tells the listener of a change of digests (not of metadata only), and keeps what the source held before. */
  #changed(namespace: string, id: SourceId, before: Entry | undefined, after: Entry): void {
    // Gaining or losing Reloader's match changes what a workload with Reloader's search counts.
    if (before && before.matched === after.matched && sameDigests(before.keys, after.keys)) return;
    if (before) this.#remember(`${namespace}/${id}`, { keys: before.keys, keysSince: before.history.keysSince });
    this.#listener(namespace, id);
  }

  /**
   * The keys (among `consumed`, default all) whose values changed in the source's
   * last change; undefined when this process did not see the source before it.
   */
  changedKeys(namespace: string, id: SourceId, consumed?: KeySelection): string[] | undefined {
    const before = this.#previous.get(`${namespace}/${id}`)?.keys;
    const after = this.#entries.get(namespace)?.get(id)?.keys;
    if (!before || !after) return undefined;
    const names = new Set([...before.keys(), ...after.keys()]);
    return [...names]
      .filter((key) => before.get(key) !== after.get(key) && (!consumed || consumed.all || consumed.keys.has(key)))
      .sort();
  }

  /** Keeps what the source held before, for the most recently changed sources only: memory stays bounded. */
  #remember(key: string, previous: Previous): void {
    this.#previous.delete(key);
    this.#previous.set(key, previous);
    if (this.#previous.size > PREVIOUS_KEPT) this.#previous.delete(this.#previous.keys().next().value as string);
  }

  #namespace(namespace: string): Map<SourceId, Entry> {
    let byId = this.#entries.get(namespace);
    if (!byId) {
      byId = new Map<SourceId, Entry>();
      this.#entries.set(namespace, byId);
    }
    return byId;
  }

  #remove(kind: SourceKind, object: SourceResource): void {
    const { namespace, name } = object.metadata ?? {};
    if (!namespace || !name) return;
    const id = sourceId(kind, name);
    const byId = this.#entries.get(namespace);
    if (!byId?.delete(id)) return;
    if (byId.size === 0) this.#entries.delete(namespace);
    this.#listener(namespace, id);
  }

  #prune(kind: SourceKind, seen: ReadonlySet<string>, listed: string | undefined): void {
    const prefix = `${kind}/`;
    for (const [namespace, byId] of [...this.#entries]) {
      if (listed !== undefined && namespace !== listed) continue;
      for (const id of [...byId.keys()]) {
        const name = id.slice(prefix.length);
        if (id.startsWith(prefix) && !seen.has(`${namespace}/${name}`)) {
          this.#remove(kind, { metadata: { namespace, name } });
        }
      }
    }
  }
}

/** The history of a version whose digests are new: when it was written; its creation's resourceVersion if the store saw it. */
function historyOf(
  object: SourceResource,
  resourceVersion: string,
  createdResourceVersion: string | undefined,
): Entry['history'] {
  const times = (object.metadata?.managedFields ?? [])
    .map((field) => Date.parse(field.time ?? ''))
    .filter((time) => !Number.isNaN(time));
  const createdAt = Date.parse(object.metadata?.creationTimestamp ?? '');
  return {
    keysSince: resourceVersion,
    writtenAt: times.length > 0 ? Math.max(...times) : undefined,
    createdAt: Number.isNaN(createdAt) ? undefined : createdAt,
    createdResourceVersion,
  };
}

function sameDigests(a: KeyDigests, b: KeyDigests): boolean {
  if (a.size !== b.size) return false;
  for (const [key, digest] of a) if (b.get(key) !== digest) return false;
  return true;
}
