// The namespaces the webhook answers for, asked per admission. The Namespace
// watch answers at once; but a namespace labelled a moment before a workload is
// applied into it (`kubectl create namespace`, `label`, `apply` in a script) may
// reach the API server's namespaceSelector before it reaches the watch, and
// skipping that admission would leave the controller to stamp the workload — a
// second rollout of a workload just created. So a namespace the watch does not
// have in scope is read from the API server, once for concurrent admissions, at
// most `ratePerSecond` times a second for the whole process: a direct caller
// naming namespace after namespace costs reads at that rate and no more, and
// still gets no answer for a namespace outside the selector.
import type { KubeConfig } from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.ts';
import { apiPath, getJson } from '../kube/raw.ts';
import { TokenBucket } from '../time/token-bucket.ts';
import type { NamespaceObject, NamespaceScope } from './namespace-scope.ts';

/** A namespace the webhook answers for, with its workloads' default rollout policies. */
export interface NamespaceInScope {
  defaults: Readonly<Record<string, string>>;
}

/** Reads one Namespace; undefined when there is none of that name. */
export type NamespaceRead = (name: string) => Promise<NamespaceObject | undefined>;

export interface AdmissionScopeOptions {
  scope: Pick<NamespaceScope, 'tracks' | 'defaults' | 'judge' | 'watchesLabels'>;
  read: NamespaceRead;
  logger: { warn: (details: object, message: string) => void };
  /** Reads of namespaces the watch does not have in scope, per second and in a burst. */
  ratePerSecond: number;
  burst: number;
  now?: () => number;
}

export class AdmissionScope {
  readonly #options: AdmissionScopeOptions;
  readonly #budget: TokenBucket;
  /** Reads under way, shared by the admissions that wait for the same namespace. */
  readonly #reading = new Map<string, Promise<NamespaceInScope | undefined>>();

  constructor(options: AdmissionScopeOptions) {
    this.#options = options;
    this.#budget = new TokenBucket(options.ratePerSecond, options.burst, options.now);
  }

  /** The namespace, if the webhook answers for it; never throws (a failed read answers "not in scope"). */
  lookUp(namespace: string): Promise<NamespaceInScope | undefined> {
    const { scope } = this.#options;
    if (scope.tracks(namespace)) return Promise.resolve({ defaults: scope.defaults(namespace) });
    if (!scope.watchesLabels || namespace === '') return Promise.resolve(undefined);
    const reading = this.#reading.get(namespace);
    if (reading) return reading;
    if (this.#budget.take() > 0) return Promise.resolve(undefined);
    const read = this.#readLive(namespace).finally(() => this.#reading.delete(namespace));
    this.#reading.set(namespace, read);
    return read;
  }

  async #readLive(namespace: string): Promise<NamespaceInScope | undefined> {
    const { scope, read, logger } = this.#options;
    let live: NamespaceObject | undefined;
    try {
      live = await read(namespace);
    } catch (error) {
      logger.warn(
        { namespace, err: error },
        'could not read the namespace to see whether it opted in; admitted unstamped, and the controller stamps its workloads if it did',
      );
      return undefined;
    }
    const judged = live && scope.judge(live);
    return judged?.tracked ? { defaults: judged.defaults } : undefined;
  }
}

/** Reads a Namespace from the API server, within `timeoutMs`. */
export function apiNamespaceRead(config: KubeConfig, timeoutMs: number): NamespaceRead {
  return (name) =>
    getJson<NamespaceObject>(config, apiPath('/api/v1/namespaces', name), {}, timeoutMs).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
}
