// Which namespaces confighash acts in, for the webhook and the controller alike:
// every namespace whose labels --namespace-selector selects (by default
// confighash.dev/enabled=true; watched), or, in a namespaced install
// (--watch-namespace), exactly the namespaces named; never confighash's own
// namespace, kube-system or those of --ignore-namespaces. The webhook answers only for these:
// a caller that reaches its port directly cannot make it read sources anywhere else.
import { isDeepStrictEqual } from 'node:util';
import { NAMESPACE_LABEL } from '../checksum/index.ts';
import type { KubeObject, WatchHandler } from '../kube/watcher.ts';
import { type LabelSelector, type LabelSelectorRequirement, matchesLabels } from './label-selector.ts';

export type NamespaceObject = KubeObject & {
  metadata?: {
    name?: string;
    labels?: Record<string, string> | null;
    annotations?: Record<string, string> | null;
  } | null;
};

/** The MutatingWebhookConfiguration's namespaceSelector for a scope. */
export interface NamespaceSelector {
  matchLabels?: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

export interface NamespaceScopeOptions {
  /** Never acted in, whatever their labels: confighash's own namespace and kube-system. */
  excluded: ReadonlySet<string>;
  /** Namespace annotations kept as defaults for its workloads (the rollout policies'). */
  defaultKeys?: readonly string[];
  /** A namespaced install: only these, known without watching Namespaces. */
  watchNamespaces?: readonly string[];
  /** Otherwise the namespaces with these labels (default confighash.dev/enabled=true). */
  selector?: LabelSelector;
  /**
   * --reloader-annotations: a workload with Reloader's annotations is tracked in
   * any namespace (but the excluded), as Reloader watches every namespace. The
   * webhook is still called for the selected namespaces only (a webhook on every
   * namespace's admissions would put confighash in the path of every deployment
   * in the cluster): elsewhere, the controller adopts such a workload and stamps
   * it on its first configuration change.
   */
  reloaderWorkloads?: boolean;
  /**
   * --reloader-namespace-selector: the namespaces in which such a workload is
   * tracked (Reloader's own --namespace-selector); none or empty: any namespace.
   */
  reloaderSelector?: LabelSelector;
}

const DEFAULT_SELECTOR: LabelSelector = { matchLabels: { [NAMESPACE_LABEL]: 'true' } };

const NAME_LABEL = 'kubernetes.io/metadata.name';

export class NamespaceScope {
  readonly #excluded: ReadonlySet<string>;
  readonly #fixed: ReadonlySet<string> | undefined;
  readonly #selector: LabelSelector;
  readonly #reloaderWorkloads: boolean;
  /** Set when Reloader's workloads are tracked only where these labels are. */
  readonly #reloaderSelector: LabelSelector | undefined;
  readonly #optedIn = new Set<string>();
  /** With a reloader selector: the namespaces it selects. */
  readonly #reloaderSelected = new Set<string>();
  readonly #defaultKeys: readonly string[];
  /** Per opted-in namespace, its annotations among defaultKeys. */
  readonly #defaults = new Map<string, Readonly<Record<string, string>>>();
  #synced: boolean;
  #listener: (namespace: string) => void = () => undefined;

  constructor(options: NamespaceScopeOptions) {
    this.#excluded = options.excluded;
    this.#fixed = options.watchNamespaces && new Set(options.watchNamespaces.filter((ns) => !options.excluded.has(ns)));
    this.#synced = this.#fixed !== undefined;
    this.#selector = options.selector ?? DEFAULT_SELECTOR;
    this.#reloaderWorkloads = options.reloaderWorkloads ?? false;
    const { reloaderSelector } = options;
    const selectsAll = !reloaderSelector?.matchLabels && (reloaderSelector?.matchExpressions ?? []).length === 0;
    this.#reloaderSelector = selectsAll ? undefined : reloaderSelector;
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

  /** Whether a workload in `namespace` is acted on; `reloaderWorkload`: it carries Reloader's annotations. */
  tracks(namespace: string, reloaderWorkload = false): boolean {
    if (this.#excluded.has(namespace)) return false;
    if (this.#fixed) return this.#fixed.has(namespace);
    return this.#optedIn.has(namespace) || (reloaderWorkload && this.#tracksReloaderWorkloads(namespace));
  }

  #tracksReloaderWorkloads(namespace: string): boolean {
    return this.#reloaderWorkloads && (!this.#reloaderSelector || this.#reloaderSelected.has(namespace));
  }

  /**
   * What the scope says of `object`, a Namespace read just now, without taking it in
   * (the watch stays the one writer): whether it is acted in, and its defaults.
   */
  judge(object: NamespaceObject): { tracked: boolean; defaults: Readonly<Record<string, string>> } {
    const name = object.metadata?.name ?? '';
    if (this.#fixed) return { tracked: this.tracks(name), defaults: {} };
    const tracked = !this.#excluded.has(name) && matchesLabels(this.#selector, object.metadata?.labels ?? {});
    return { tracked, defaults: tracked ? this.#defaultsOf(object.metadata?.annotations ?? {}) : {} };
  }

  #defaultsOf(annotations: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    return Object.fromEntries(
      this.#defaultKeys.flatMap((key) => (annotations[key] === undefined ? [] : [[key, annotations[key]]])),
    );
  }

  /** Called with a namespace that came into or left the scope, or whose defaults changed. */
  onChange(listener: (namespace: string) => void): void {
    this.#listener = listener;
  }

  /** What the API server uses to decide which admissions to send. */
  webhookSelector(): NamespaceSelector {
    if (this.#fixed)
      return { matchExpressions: [{ key: NAME_LABEL, operator: 'In', values: [...this.#fixed].sort() }] };
    const excluded: LabelSelectorRequirement = {
      key: NAME_LABEL,
      operator: 'NotIn',
      values: [...this.#excluded].sort(),
    };
    const { matchLabels, matchExpressions = [] } = this.#selector;
    return {
      ...(matchLabels ? { matchLabels } : {}),
      matchExpressions: [...matchExpressions, excluded],
    };
  }

  /** Feeds the scope from a watch of Namespaces (not needed when fixed). */
  handler(): WatchHandler<NamespaceObject> {
    return {
      upsert: (object) => {
        const labels = object.metadata?.labels ?? {};
        this.#setReloaderSelected(object.metadata?.name, matchesLabels(this.#reloaderSelector ?? {}, labels));
        this.#set(object.metadata?.name, matchesLabels(this.#selector, labels), object.metadata?.annotations ?? {});
      },
      remove: (object) => {
        this.#setReloaderSelected(object.metadata?.name, false);
        this.#set(object.metadata?.name, false, {});
      },
      prune: (seen) => {
        for (const name of [...this.#reloaderSelected]) if (!seen.has(name)) this.#setReloaderSelected(name, false);
        for (const name of [...this.#optedIn]) if (!seen.has(name)) this.#set(name, false, {});
        this.#synced = true;
      },
    };
  }

  /** Only with a reloader selector; a change is told, as Reloader's workloads there come into or leave the scope. */
  #setReloaderSelected(name: string | undefined, selected: boolean): void {
    if (!name || !this.#reloaderSelector || this.#reloaderSelected.has(name) === selected) return;
    if (selected) this.#reloaderSelected.add(name);
    else this.#reloaderSelected.delete(name);
    this.#listener(name);
  }

  #set(name: string | undefined, optedIn: boolean, annotations: Readonly<Record<string, string>>): void {
    if (!name) return;
    const defaults = optedIn ? this.#defaultsOf(annotations) : {};
    const defaultsChanged = !isDeepStrictEqual(defaults, this.#defaults.get(name) ?? {});
    if (Object.keys(defaults).length > 0) this.#defaults.set(name, defaults);
    else this.#defaults.delete(name);
    if (this.#optedIn.has(name) === optedIn && !defaultsChanged) return;
    if (optedIn) this.#optedIn.add(name);
    else this.#optedIn.delete(name);
    this.#listener(name);
  }
}
