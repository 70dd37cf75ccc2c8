// Live reads of a workload's sources from the API server, as the webhook needs
// them (SPEC: consistent reads at admission): concurrent up to a bound, each with
// a timeout, and reduced to per-key digests as soon as they arrive, unless the
// controller's store already holds that very version of the source, digested.
import type { KubeConfig } from '@kubernetes/client-node';
import {
  type ConsumedSource,
  isValidObjectName,
  type SourceId,
  type SourceState,
  type ValueHasher,
} from '../checksum/index.ts';
import { countedKeys, type FilteredSource, type SourceFilter } from './filter.ts';
import { describeApiError, isNotFound } from '../kube/errors.ts';
import { apiPath, requestJson } from '../kube/raw.ts';

export interface SourceReaderOptions {
  /** Reads in flight at once for one workload. */
  concurrency: number;
  /** Per read; keep it well under the webhook's timeoutSeconds. */
  timeoutMs: number;
  /** How sources count (--resource-label-selector, Reloader's ignore and match), as in the controller's store. */
  filter?: SourceFilter;
  /**
   * The controller's store: a source read at the resourceVersion the store holds
   * is taken with the store's digests instead of being digested again. It must
   * count sources with the same `filter`.
   */
  known?: KnownSources;
}

/** Sources already digested, each at the resourceVersion it was digested at. */
export interface KnownSources {
  state(namespace: string, id: SourceId): SourceState;
}

/** A source that could not be read (other than not existing). */
export class SourceReadError extends Error {
  override name = 'SourceReadError';
}

/** The current state of each of a workload's sources, as the webhook reads them. */
export interface SourceReader {
  /** Rejects when any read fails, or when `signal` aborts (the caller ran out of time). */
  read(
    namespace: string,
    sources: readonly ConsumedSource[],
    signal?: AbortSignal,
  ): Promise<Map<SourceId, SourceState>>;
}

export class LiveSourceReader implements SourceReader {
  readonly #config: KubeConfig;
  readonly #hasher: ValueHasher;
  readonly #options: SourceReaderOptions;

  constructor(config: KubeConfig, hasher: ValueHasher, options: SourceReaderOptions) {
    this.#config = config;
    this.#hasher = hasher;
    this.#options = options;
  }

  /** The current state of each source; throws SourceReadError if any read fails. */
  async read(
    namespace: string,
    sources: readonly ConsumedSource[],
    signal?: AbortSignal,
  ): Promise<Map<SourceId, SourceState>> {
    const states = new Map<SourceId, SourceState>();
    await forEachConcurrently(sources, this.#options.concurrency, async (source) => {
      signal?.throwIfAborted();
      states.set(source.id, await this.#readOne(namespace, source, signal));
    });
    return states;
  }

  async #readOne(namespace: string, source: ConsumedSource, signal: AbortSignal | undefined): Promise<SourceState> {
    // No object can have an invalid name: it is missing, and never requested.
    if (!isValidObjectName(source.name)) return { exists: false };
    try {
      const path = apiPath('/api/v1', 'namespaces', namespace, `${source.kind}s`, source.name);
      // Raw JSON, not the generated client: no model classes to build for data about to be digested.
      const object = await requestJson<FilteredSource>(this.#config, {
        method: 'GET',
        path,
        timeoutMs: this.#options.timeoutMs,
        ...(signal ? { signal } : {}),
      });
      return this.#stateOf(namespace, source, object);
    } catch (error) {
      if (isNotFound(error)) return { exists: false };
      throw new SourceReadError(describeApiError(`read ${source.kind} ${namespace}/${source.name}`, error), {
        cause: error,
      });
    }
  }

  /** What `object`, just read, holds as it counts. */
  #stateOf(namespace: string, source: ConsumedSource, object: FilteredSource): SourceState {
    const resourceVersion = object.metadata?.resourceVersion ?? '';
    // The same version holds the same data, labels and annotations: the store's digests are this read's.
    const known = this.#options.known?.state(namespace, source.id);
    if (known?.exists && resourceVersion !== '' && known.resourceVersion === resourceVersion) return known;
    return { exists: true, ...countedKeys(this.#hasher, source.kind, object, this.#options.filter), resourceVersion };
  }
}

/**
 * When `sources` last changed, as the API server recorded it (the newest time in
 * their managedFields, to the second); undefined when none says.
 */
export async function sourcesChangedAt(
  config: KubeConfig,
  namespace: string,
  sources: readonly ConsumedSource[],
  timeoutMs: number,
): Promise<number | undefined> {
  const times: number[] = [];
  await forEachConcurrently(
    sources.filter((s) => isValidObjectName(s.name)),
    4,
    async (source) => {
      const path = apiPath('/api/v1', 'namespaces', namespace, `${source.kind}s`, source.name);
      // Metadata only: a Secret's data is not needed to know when it changed.
      const accept = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
      const object = await requestJson<{ metadata?: { managedFields?: { time?: string }[] } }>(config, {
        method: 'GET',
        path,
        timeoutMs,
        accept,
      }).catch(() => undefined);
      for (const entry of object?.metadata?.managedFields ?? []) times.push(Date.parse(entry.time ?? ''));
    },
  );
  const newest = Math.max(...times.filter((t) => !Number.isNaN(t)));
  return Number.isFinite(newest) ? newest : undefined;
}

/** Runs `task` for every item, at most `limit` at a time; rejects with the first failure. */
export async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
