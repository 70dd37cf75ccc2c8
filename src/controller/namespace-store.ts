// Which namespaces have opted in (label confighash.dev/enabled=true), and word
// when one opts in or out.
import { NAMESPACE_LABEL } from '../checksum/index.ts';
import type { KubeObject, WatchHandler } from '../kube/watcher.ts';

type NamespaceObject = KubeObject & { metadata?: { name?: string; labels?: Record<string, string> | null } | null };

export class NamespaceStore {
  readonly #optedIn = new Set<string>();
  #listener: (namespace: string) => void = () => undefined;

  onChange(listener: (namespace: string) => void): void {
    this.#listener = listener;
  }

  isOptedIn(namespace: string): boolean {
    return this.#optedIn.has(namespace);
  }

  handler(): WatchHandler<NamespaceObject> {
    return {
      upsert: (object) => {
        this.#set(object.metadata?.name, object.metadata?.labels?.[NAMESPACE_LABEL] === 'true');
      },
      remove: (object) => {
        this.#set(object.metadata?.name, false);
      },
      prune: (seen) => {
        for (const name of [...this.#optedIn]) if (!seen.has(name)) this.#set(name, false);
      },
    };
  }

  #set(name: string | undefined, optedIn: boolean): void {
    if (!name || this.#optedIn.has(name) === optedIn) return;
    if (optedIn) this.#optedIn.add(name);
    else this.#optedIn.delete(name);
    this.#listener(name);
  }
}
