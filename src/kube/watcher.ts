// List-then-watch of one resource type, kept alive the way client-go's reflector
// does it: lists in pages, watches from the list's resourceVersion with bookmarks,
// relists on 410 Gone (and periodically only when asked: see WatcherOptions), turns any
// other ERROR event into a failure (logged, counted, retried with jittered
// exponential backoff), restarts a watch that goes silent, and says whether it is
// synced and healthy.
// Not client-node's informer, whose cache holds every object in full: the handler
// here keeps only what it needs of each object.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, apiStatus } from './errors.ts';
import { jitter, sleep } from '../time/sleep.ts';
import { type ListPage, listPage, watchEvents, type WatchHandlers } from './raw.ts';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string } | null;
}

/**
 * How an object reached the watcher: listed, or in a watch event. An `added` event
 * after the list is the object's creation (the object as created, at the
 * resourceVersion of its creation).
 */
export type Arrival = 'listed' | 'added' | 'modified';

/** Receives what the watcher sees. A list is upserts followed by prune(seen keys). */
export interface WatchHandler<T extends KubeObject> {
  upsert(object: T, arrival?: Arrival): void;
  remove(object: T): void;
  /**
   * After a full list: forget every object whose key (namespace/name) is not in
   * `seen`; only those of `namespace` when the list was of one namespace.
   */
  prune(seen: ReadonlySet<string>, namespace?: string): void;
}

export interface WatchedResource {
  /** For logs and metrics, e.g. `secrets`. */
  name: string;
  /** Collection path, e.g. `/api/v1/secrets` or `/api/v1/namespaces/app/secrets`. */
  path: string;
  /** The namespace `path` lists, when it lists one. */
  namespace?: string;
  /** Objects per list page: smaller for resources whose objects can be large. */
  pageSize: number;
  /** Only the objects matching this field selector, e.g. `metadata.name=x`. */
  fieldSelector?: string;
}

/** The list and watch calls a watcher makes; over the API server in production, faked in tests. */
export interface ListWatchClient {
  /** One page: each item to `onItem` as it arrives; resolves with the page's metadata. */
  list<T>(
    path: string,
    query: Record<string, string | number | undefined>,
    onItem: (item: T) => void,
  ): Promise<ListPage<T>['metadata']>;
  /** Starts a watch, and returns a handle to abort it. */
  watch(path: string, query: Record<string, string | number | boolean>, handlers: WatchHandlers): { abort(): void };
}

export interface WatcherOptions {
  /**
   * 0: list again only when a watch cannot resume (410 Gone, an expired continue
   * token), as client-go's reflector does. Each watch resumes from the last
   * resourceVersion it saw (bookmarks keep that recent), so nothing between two
   * watches is missed; a periodic relist would only move every object again.
   */
  relistIntervalMs: number;
  onRestart: (resource: string) => void;
  logger: Logger;
}

/** A watch with no event or bookmark for this long has gone silent and is restarted. */
const SILENCE_TIMEOUT_MS = 150_000;
const INITIAL_BACKOFF_MS = 200;
const SHORT_WATCH_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** Server-side watch timeouts, randomised so watches do not all end together. */
const WATCH_TIMEOUT_SECONDS = { min: 240, max: 360 };

export function objectKey(object: KubeObject): string {
  const { namespace, name } = object.metadata ?? {};
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

class GoneError extends Error {
  override name = 'GoneError';
}

export class ResourceWatcher<T extends KubeObject> {
  readonly #client: ListWatchClient;
  readonly #resource: WatchedResource;
  readonly #handler: WatchHandler<T>;
  readonly #options: WatcherOptions;
  readonly #stopped = new AbortController();
  #resourceVersion = '';
  #synced = false;
  readonly #firstSync = Promise.withResolvers<undefined>();
  #problem: string | undefined = 'not started';
  #activeWatch: { abort(): void } | undefined;
  #loop: Promise<void> | undefined;

  constructor(client: ListWatchClient, resource: WatchedResource, handler: WatchHandler<T>, options: WatcherOptions) {
    this.#client = client;
    this.#resource = resource;
    this.#handler = handler;
    this.#options = options;
  }

  get resource(): string {
    return this.#resource.name;
  }

  /** True once the first full list has been handled. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first full list has been handled. */
  whenSynced(): Promise<undefined> {
    return this.#firstSync.promise;
  }

  /** Undefined while listing or watching works; else what is wrong. */
  get problem(): string | undefined {
    return this.#problem;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#activeWatch?.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    let backoffMs = INITIAL_BACKOFF_MS;
    let relistAt = 0;
    while (!this.#isStopped()) {
      try {
        if (Date.now() >= relistAt) {
          await this.#list();
          relistAt = this.#nextRelist();
        }
        const started = Date.now();
        let events = 0;
        await this.#watch(() => {
          events++;
          backoffMs = INITIAL_BACKOFF_MS;
        });
        // As client-go's reflector: a watch the server ends at once, having sent
        // nothing, is a failure to back off from, not a reason to watch again at once.
        if (events === 0 && Date.now() - started < SHORT_WATCH_MS) {
          throw new Error(`watch ${this.#resource.name} ended after ${Date.now() - started}ms without an event`);
        }
      } catch (error) {
        if (this.#isStopped()) return;
        if (error instanceof GoneError) {
          this.#options.logger.debug({ resource: this.#resource.name, reason: error.message }, 'relisting');
          relistAt = 0;
          continue;
        }
        this.#problem = describeApiError(`watch ${this.#resource.name}`, error);
        this.#options.onRestart(this.#resource.name);
        this.#options.logger.warn(
          { resource: this.#resource.name, err: this.#problem, retryInMs: backoffMs },
          'watch failed; restarting',
        );
        await sleep(jitter(backoffMs, 0.5), this.#stopped.signal);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /** Never, unless asked for: a watch that resumes from its resourceVersion misses nothing. */
  #nextRelist(): number {
    const interval = this.#options.relistIntervalMs;
    return interval > 0 ? Date.now() + jitter(interval, 0.2) : Number.POSITIVE_INFINITY;
  }

  #isStopped(): boolean {
    return this.#stopped.signal.aborted;
  }

  /** Lists every object, page by page, then prunes what no longer exists. */
  async #list(): Promise<void> {
    const seen = new Set<string>();
    let continueToken: string | undefined;
    do {
      const metadata = await this.#client
        .list<T>(
          this.#resource.path,
          { limit: this.#resource.pageSize, continue: continueToken, fieldSelector: this.#resource.fieldSelector },
          (item) => {
            seen.add(objectKey(item));
            this.#handler.upsert(item, 'listed');
          },
        )
        .catch((error: unknown) => {
          // An expired continue token: start the list over.
          if (apiStatus(error) === 410) throw new GoneError('list continue token expired');
          throw error;
        });
      continueToken = metadata.continue || undefined;
      this.#resourceVersion = metadata.resourceVersion;
    } while (continueToken);
    this.#handler.prune(seen, this.#resource.namespace);
    this.#synced = true;
    this.#firstSync.resolve(undefined);
    this.#problem = undefined;
    this.#options.logger.debug({ resource: this.#resource.name, objects: seen.size }, 'listed');
  }

  /** Watches until the server ends the watch (resolves) or it fails (rejects). */
  #watch(onEvent: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      const query = {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(
          WATCH_TIMEOUT_SECONDS.min + Math.random() * (WATCH_TIMEOUT_SECONDS.max - WATCH_TIMEOUT_SECONDS.min),
        ),
        ...(this.#resource.fieldSelector ? { fieldSelector: this.#resource.fieldSelector } : {}),
      };
      const onWatchEvent = (type: string, object: unknown): void => {
        if (type === 'ERROR') {
          // The apiserver ends the watch after an ERROR event; which error says what to do next.
          failure ??= watchEventError(this.#resource.name, object);
          return;
        }
        onEvent();
        const item = object as T;
        const version = item.metadata?.resourceVersion;
        if (version) this.#resourceVersion = version;
        if (type === 'ADDED' || type === 'MODIFIED')
          this.#handler.upsert(item, type === 'ADDED' ? 'added' : 'modified');
        else if (type === 'DELETED') this.#handler.remove(item);
      };
      const done = (error?: unknown): void => {
        this.#activeWatch = undefined;
        if (failure) reject(failure);
        else if (isSilenceTimeout(error)) resolve();
        // The server may refuse a watch from a compacted resourceVersion before it starts.
        else if (apiStatus(error) === 410) reject(new GoneError('resourceVersion too old'));
        else if (error instanceof Error) reject(error);
        else if (error) reject(new Error(`watch ${this.#resource.name} failed: ${JSON.stringify(error)}`));
        else resolve();
      };
      // Healthy again once the server accepts a watch, not when one is asked for.
      const onOpen = (): void => {
        this.#problem = undefined;
      };
      this.#activeWatch = this.#client.watch(this.#resource.path, query, {
        onOpen,
        onEvent: onWatchEvent,
        onDone: done,
      });
      if (this.#isStopped()) this.#activeWatch.abort();
    });
  }
}

/** What an ERROR watch event means: 410 Gone asks for a relist; anything else is a failure to back off from. */
function watchEventError(resource: string, object: unknown): Error {
  const status = (object ?? {}) as { code?: unknown; reason?: unknown; message?: unknown };
  if (status.code === 410) return new GoneError('resourceVersion too old');
  const code = typeof status.code === 'number' ? status.code : 'unknown';
  const reason = typeof status.reason === 'string' ? status.reason : 'unknown reason';
  const message = typeof status.message === 'string' ? status.message : JSON.stringify(object);
  return new Error(`watch ${resource}: ERROR event (HTTP ${code}, ${reason}): ${message}`);
}

/** Lists and watches over the API server with the kubeconfig's credentials. */
export function apiListWatchClient(config: KubeConfig, requestTimeoutMs: number): ListWatchClient {
  return {
    list: (path, query, onItem) => listPage(config, { path, query, timeoutMs: requestTimeoutMs }, onItem),
    // A silent watch (no event, no bookmark: the API server sends a bookmark about
    // once a minute) ends with a TimeoutError; the loop then resumes it.
    watch: (path, query, handlers) => watchEvents(config, { path, query, silenceMs: SILENCE_TIMEOUT_MS }, handlers),
  };
}

function isSilenceTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'TimeoutError';
}
