// A workload kind served by a CustomResourceDefinition that may not be installed
// (Argo Rollouts' Rollout): its objects are watched while the CRD is established,
// from the moment it appears (no restart needed), and forgotten when it goes.
// Without the CRD nothing is watched and nothing fails.
import type { Logger } from 'pino';
import { apiPath } from '../kube/raw.ts';
import { watchNamedObject } from '../kube/named-object.ts';
import type { KubeObject, ListWatchClient, ResourceWatcher } from '../kube/watcher.ts';

interface CustomResourceDefinition extends KubeObject {
  spec?: { versions?: { name?: string; served?: boolean }[] };
  status?: { conditions?: { type?: string; status?: string }[] };
}

export interface OptionalKindOptions {
  listWatch: ListWatchClient;
  /** e.g. `rollouts.argoproj.io` */
  crd: string;
  /** The version confighash reads. */
  version: string;
  /** The watchers of the kind's objects, made when the CRD is established. */
  watchers: () => ResourceWatcher<KubeObject>[];
  /** The CRD is gone: every object of the kind with it. */
  onGone: () => void;
  relistIntervalMs: number;
  logger: Logger;
}

export class OptionalKindWatcher {
  readonly #options: OptionalKindOptions;
  /** The CRD's own watch: part of the controller's sync, so that the kind's presence is known before reconciling. */
  readonly crdWatcher: ResourceWatcher<CustomResourceDefinition>;
  #watchers: ResourceWatcher<KubeObject>[] | undefined;

  constructor(options: OptionalKindOptions) {
    this.#options = options;
    this.crdWatcher = watchNamedObject<CustomResourceDefinition>(
      options.listWatch,
      {
        watcher: `customresourcedefinitions/${options.crd}`,
        collection: apiPath('/apis/apiextensions.k8s.io/v1', 'customresourcedefinitions'),
        name: options.crd,
      },
      (crd) => {
        if (crd && servesVersion(crd, options.version)) this.#present();
        else void this.#gone();
      },
      { logger: options.logger, relistIntervalMs: options.relistIntervalMs },
    );
  }

  /** The kind's watchers while they run (their sync and problems are the controller's too). */
  get watchers(): readonly ResourceWatcher<KubeObject>[] {
    return this.#watchers ?? [];
  }

  /** Stops the kind's watchers (the CRD's is stopped with the controller's own). */
  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.stop()));
  }

  #present(): void {
    if (this.#watchers) return;
    this.#options.logger.info(
      { crd: this.#options.crd },
      'the CustomResourceDefinition is established: watching its objects',
    );
    this.#watchers = this.#options.watchers();
    for (const watcher of this.#watchers) watcher.start();
  }

  async #gone(): Promise<void> {
    const watchers = this.#watchers;
    if (!watchers) return;
    this.#watchers = undefined;
    this.#options.logger.info(
      { crd: this.#options.crd },
      'the CustomResourceDefinition is gone: forgetting its objects',
    );
    await Promise.all(watchers.map((w) => w.stop()));
    this.#options.onGone();
  }
}

/** Established, and serving `version`. */
function servesVersion(crd: CustomResourceDefinition, version: string): boolean {
  const established = crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  return established && (crd.spec?.versions ?? []).some((v) => v.name === version && v.served === true);
}
