// Which namespaces confighash acts in, for the webhook and the controller alike:
// every namespace labelled confighash.dev/enabled=true (watched), or, in a
// namespaced install (--watch-namespace), exactly the namespaces named; never
// confighash's own namespace or kube-system. The webhook answers only for these:
// a caller that reaches its port directly cannot make it read sources anywhere else.
import { isDeepStrictEqual } from 'node:util';
import { NAMESPACE_LABEL } from '../checksum/index.ts';
import type { KubeObject, WatchHandler } from '../kube/watcher.ts';

type NamespaceObject = KubeObject & { metadata?: { name?: string; labels?: Record<string, string> | null; annotations?: Record<string, string> | null } | null };

/** The MutatingWebhookConfiguration's namespaceSelector for a scope. */
export interface NamespaceSelector {
  matchLabels?: Record<string, string>;
  matchExpressions: { key: string; operator: 'In' | 'NotIn'; values: string[] }[];
}

export interface NamespaceScopeOptions {
  /** Never acted in, whatever their labels: confighash's own namespace and kube-system. */
  excluded: ReadonlySet<string>;
  /** Namespace annotations kept as defaults for its workloads (the rollout policies'). */
  defaultKeys?: readonly string[];
  /** A namespaced install: only these, known without watching Namespaces. */
  watchNamespaces?: readonly string[];
}

const NAME_LABEL = 'kubernetes.io/metadata.name';

export class NamespaceScope {
  readonly #excluded: ReadonlySet<string>;
  readonly #fixed: ReadonlySet<string> | undefined;
  readonly #optedIn = new Set<string>();
  readonly #defaultKeys: readonly string[];
  /** Per opted-in namespace, its annotations among defaultKeys. */
  readonly #defaults = new Map<string, Readonly<Record<string, string>>>();
  #synced: boolean;
  #listener: (namespace: string) => void = () => undefined;

  constructor(options: NamespaceScopeOptions) {
    this.#excluded = options.excluded;
    this.#fixed = options.watchNamespaces && new Set(options.watchNamespaces.filter((ns) => !options.excluded.has(ns)));
    this.#synced = this.#fixed !== undefined;
    this.#defaultKeys = options.defaultKeys ?? [];
  }

  /** The namespace's defaults for its workloads (none in a namespaced install, which cannot read Namespaces). */
  defaults(namespace: string): Readonly<Record<string, string>> {
    return this.#defaults.get(namespace) ?? {};
  }

  /** The namespaces of a namespaced install; undefined when confighash watches every namespace. */
  get watchNamespaces(): readonly string[] | undefined {
    return this.#fixed && [...this.#fixed].sort();
  }

  /** Whether Namespaces must be watched to know the scope. */
  get watchesLabels(): boolean {
    return this.#fixed === undefined;
  }

  /** True once the scope is known (the first list of Namespaces, or at once when fixed). */
  get synced(): boolean {
    return this.#synced;
  }

  tracks(namespace: string): boolean {
    if (this.#excluded.has(namespace)) return false;
    return this.#fixed ? this.#fixed.has(namespace) : this.#optedIn.has(namespace);
  }

  /** Called with a namespace that came into or left the scope, or whose defaults changed. */
  onChange(listener: (namespace: string) => void): void {
    this.#listener = listener;
  }

  /** What the API server uses to decide which admissions to send. */
  webhookSelector(): NamespaceSelector {
    if (this.#fixed) return { matchExpressions: [{ key: NAME_LABEL, operator: 'In', values: [...this.#fixed].sort() }] };
    return {
      matchLabels: { [NAMESPACE_LABEL]: 'true' },
      matchExpressions: [{ key: NAME_LABEL, operator: 'NotIn', values: [...this.#excluded].sort() }],
    };
  }

  /** Feeds the scope from a watch of Namespaces (not needed when fixed). */
  handler(): WatchHandler<NamespaceObject> {
    return {
      upsert: (object) => {
        this.#set(object.metadata?.name, object.metadata?.labels?.[NAMESPACE_LABEL] === 'true', object.metadata?.annotations ?? {});
      },
      remove: (object) => {
        this.#set(object.metadata?.name, false, {});
      },
      prune: (seen) => {
        for (const name of [...this.#optedIn]) if (!seen.has(name)) this.#set(name, false, {});
        this.#synced = true;
      },
    };
  }

  #set(name: string | undefined, optedIn: boolean, annotations: Readonly<Record<string, string>>): void {
    if (!name) return;
    const defaults = optedIn ? Object.fromEntries(this.#defaultKeys.flatMap((key) => (annotations[key] === undefined ? [] : [[key, annotations[key]]]))) : {};
    const defaultsChanged = !isDeepStrictEqual(defaults, this.#defaults.get(name) ?? {});
    if (Object.keys(defaults).length > 0) this.#defaults.set(name, defaults);
    else this.#defaults.delete(name);
    if (this.#optedIn.has(name) === optedIn && !defaultsChanged) return;
    if (optedIn) this.#optedIn.add(name);
    else this.#optedIn.delete(name);
    this.#listener(name);
  }
}
