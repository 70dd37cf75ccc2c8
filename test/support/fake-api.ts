// In-memory stand-ins for the two API seams confighash's self-repairing parts use,
// for their unit tests: Secrets with the API server's optimistic concurrency (a
// create of an existing name or a replace at a stale resourceVersion is a 409),
// and a list-watch of them that a test drives event by event.
import type { V1Secret } from '@kubernetes/client-node';
import { ApiRequestError, type ListPage, type WatchHandlers } from '../../src/kube/raw.ts';
import type { SecretStore } from '../../src/kube/secrets.ts';
import type { KubeObject, ListWatchClient } from '../../src/kube/watcher.ts';

export class FakeSecrets implements SecretStore {
  readonly secrets = new Map<string, V1Secret>();
  /** Every write tried, in order: `create <ns>/<name>`, `replace …`, `conflict replace …`. */
  readonly writes: string[] = [];
  #version = 100;

  read(namespace: string, name: string): Promise<V1Secret | undefined> {
    const secret = this.secrets.get(`${namespace}/${name}`);
    return Promise.resolve(secret && structuredClone(secret));
  }

  create(namespace: string, body: V1Secret): Promise<void> {
    const key = `${namespace}/${body.metadata?.name ?? ''}`;
    if (this.secrets.has(key)) {
      this.writes.push(`conflict create ${key}`);
      return Promise.reject(new ApiRequestError(409, `secrets "${body.metadata?.name ?? ''}" already exists`));
    }
    this.writes.push(`create ${key}`);
    this.#store(key, body);
    return Promise.resolve();
  }

  replace(namespace: string, body: V1Secret): Promise<void> {
    const key = `${namespace}/${body.metadata?.name ?? ''}`;
    if (this.secrets.get(key)?.metadata?.resourceVersion !== body.metadata?.resourceVersion) {
      this.writes.push(`conflict replace ${key}`);
      return Promise.reject(new ApiRequestError(409, 'the object has been modified'));
    }
    this.writes.push(`replace ${key}`);
    this.#store(key, body);
    return Promise.resolve();
  }

  /** What another writer (an operator, another replica) puts there. */
  put(namespace: string, body: V1Secret): V1Secret {
    return this.#store(`${namespace}/${body.metadata?.name ?? ''}`, body);
  }

  #store(key: string, body: V1Secret): V1Secret {
    const stored = structuredClone(body);
    stored.metadata = Object.assign(structuredClone(body.metadata ?? {}), {
      namespace: key.slice(0, key.indexOf('/')),
      resourceVersion: String(++this.#version),
      creationTimestamp: body.metadata?.creationTimestamp ?? new Date('2026-12-01T00:00:00Z'),
    });
    this.secrets.set(key, stored);
    return structuredClone(stored);
  }
}

/** Lists what `listed()` returns; each watch stays open, and `send` delivers an event to the open ones. */
export class DrivenListWatch implements ListWatchClient {
  readonly #open = new Set<WatchHandlers>();
  readonly #listed: () => KubeObject[];
  readonly calls: string[] = [];

  constructor(listed: () => KubeObject[] = () => []) {
    this.#listed = listed;
  }

  /** Whether a watch is open (the list before it has been handled). */
  get watching(): boolean {
    return this.#open.size > 0;
  }

  list<T>(
    path: string,
    query: Record<string, string | number | undefined>,
    onItem: (item: T) => void,
  ): Promise<ListPage<T>['metadata']> {
    this.calls.push(`list ${path} ${String(query['fieldSelector'])}`);
    for (const item of this.#listed()) onItem(item as T);
    return Promise.resolve({ resourceVersion: '10' });
  }

  watch(path: string, query: Record<string, string | number | boolean>, handlers: WatchHandlers): { abort(): void } {
    this.calls.push(`watch ${path} ${String(query['fieldSelector'])}`);
    setImmediate(() => {
      handlers.onOpen();
      this.#open.add(handlers);
    });
    return {
      abort: () => {
        this.#open.delete(handlers);
        handlers.onDone();
      },
    };
  }

  send(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): void {
    for (const handlers of this.#open) handlers.onEvent(type, object);
  }
}
