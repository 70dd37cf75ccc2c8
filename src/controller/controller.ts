// The restart controller's entry: watches Namespaces (unless the install is
// namespaced), ConfigMaps, Secrets and the three workload kinds into compact
// stores (in every namespace, or in each watched one); turns source changes into queued
// workload keys (coalesced per workload); and, while leading, runs workers that
// reconcile them. Data flows one way: API events → stores and index → queue → patch.
import type { Logger } from 'pino';
import {
  BUILT_IN_KINDS,
  ROLLOUT_CRD,
  type SourceId,
  type ValueHasher,
  WORKLOAD_APIS,
  type WorkloadKind,
} from '../checksum/index.ts';
import type { AgentStatusReader } from '../workloads/agent-status.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SourceReader } from '../sources/reader.ts';
import { ConflictError, PatchRejectedError, type WorkloadPatcher } from '../workloads/patcher.ts';
import { apiPath } from '../kube/raw.ts';
import {
  type KubeObject,
  type ListWatchClient,
  ResourceWatcher,
  type WatchedResource,
  type WatchHandler,
} from '../kube/watcher.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { Approver } from '../policy/approval.ts';
import type { NamespaceScope } from '../scope/namespace-scope.ts';
import { Reconciler } from './reconciler.ts';
import { Gatekeeper } from './gatekeeper.ts';
import { ReloadTracker } from './reload-tracker.ts';
import type { CronJobRunner } from '../workloads/cronjob-runner.ts';
import type { SourceFilter } from '../sources/filter.ts';
import type { NoticePublisher } from '../notify/notifier.ts';
import { OptionalKindWatcher } from './optional-kind.ts';
import { RolloutFollower } from './rollout-follower.ts';
import { SourceStore } from '../sources/store.ts';
import { TokenBucket } from '../time/token-bucket.ts';
import { RateLimitedQueue } from './rate-limited-queue.ts';
import { type WorkloadRecord, WorkloadStore, workloadEventTarget } from './workload-store.ts';

export interface ControllerOptions {
  listWatch: ListWatchClient;
  patcher: Pick<WorkloadPatcher, 'patch' | 'stamp'>;
  events: Pick<EventRecorder, 'record'>;
  /** Told what happened to workloads' configuration (src/notify/). */
  notices?: NoticePublisher;
  /** Starts Jobs for CronJobs with confighash.dev/cronjob-run-now. */
  jobs?: CronJobRunner;
  /** Live reads, to confirm a change before rolling. */
  reader: SourceReader;
  /** Where the controller keeps every source's digests (shared with the webhook's reader, which reuses them). */
  sources: SourceStore;
  /** The reload agents' status, and when reloaded sources last changed: to follow reloads in place. */
  reloadStatus?: {
    agents: AgentStatusReader;
    changedAt: (record: WorkloadRecord) => Promise<number | undefined>;
    pollMs: number;
    deadlineMs: number;
  };
  hasher: ValueHasher;
  /** Which namespaces confighash acts in. */
  scope: NamespaceScope;
  /** How sources count: --resource-label-selector, Reloader's ignore and match. */
  sourceFilter?: SourceFilter;
  coalesceWindowMs: number;
  /** When confighash was installed (ms): changes before it are not judged at adoption. */
  installedAt?: number | undefined;
  /** Whether a config rollout waits for the previous rollout, unless the workload says. */
  waitForRollout: boolean;
  /** How long a StatefulSet's or DaemonSet's rollout may take before it counts as failed. */
  progressDeadlineMs: number;
  /** The approval hook (--approval-url), if there is one. */
  approver?: Approver;
  rolloutRatePerSecond: number;
  rolloutBurst: number;
  workers: number;
  relistIntervalMs: number;
  logger: Logger;
  metrics: Metrics;
}

export class Controller {
  readonly #options: ControllerOptions;
  readonly #sources: SourceStore;
  readonly #workloads: WorkloadStore;
  readonly #queue: RateLimitedQueue;
  readonly #reconciler: Reconciler;
  readonly #reloads: ReloadTracker | undefined;
  readonly #watchers: ResourceWatcher<KubeObject>[];
  /** Argo Rollouts, while its CRD is installed. */
  readonly #rollouts: OptionalKindWatcher;
  /** Watches of what may not exist (a CRD): started and reported, never waited for. */
  readonly #optional: ResourceWatcher<KubeObject>[];
  /** Per queued workload: when the source change that queued it was seen. */
  readonly #changedAt = new Map<string, number>();
  /** Workloads whose patch conflicted, retried as soon as their watch brings the newer version. */
  readonly #awaitingVersion = new Set<string>();
  #reconciling = false;
  #workers: Promise<void>[] = [];

  constructor(options: ControllerOptions) {
    this.#options = { ...options, logger: options.logger.child({ component: 'controller' }) };
    this.#sources = options.sources;
    this.#queue = new RateLimitedQueue((depth) => {
      options.metrics.queueDepth.set(depth);
    });
    this.#workloads = new WorkloadStore(options.sourceFilter?.reloaderAnnotations ?? true);
    const notices = options.notices ? { notices: options.notices } : {};
    this.#reloads =
      options.reloadStatus &&
      new ReloadTracker({
        ...options.reloadStatus,
        workloads: this.#workloads,
        patcher: options.patcher,
        events: options.events,
        ...notices,
        logger: options.logger.child({ component: 'reload-tracker' }),
        metrics: options.metrics,
      });
    this.#reconciler = new Reconciler({
      workloads: this.#workloads,
      sources: this.#sources,
      scope: options.scope,
      hasher: options.hasher,
      reader: options.reader,
      patcher: options.patcher,
      events: options.events,
      ...notices,
      ...(options.jobs ? { jobs: options.jobs } : {}),
      limiter: new TokenBucket(options.rolloutRatePerSecond, options.rolloutBurst),
      ...(this.#reloads ? { reloads: this.#reloads } : {}),
      gatekeeper: new Gatekeeper({
        scope: options.scope,
        waitForRollout: options.waitForRollout,
        ...(options.approver ? { approver: options.approver } : {}),
        patcher: options.patcher,
        events: options.events,
        ...notices,
        logger: options.logger.child({ component: 'gatekeeper' }),
        metrics: options.metrics,
      }),
      follower: new RolloutFollower({
        progressDeadlineMs: options.progressDeadlineMs,
        patcher: options.patcher,
        events: options.events,
        ...notices,
        logger: options.logger.child({ component: 'rollout-follower' }),
        metrics: options.metrics,
      }),
      coalesceWindowMs: options.coalesceWindowMs,
      installedAt: options.installedAt,
      logger: options.logger.child({ component: 'reconciler' }),
      metrics: options.metrics,
    });
    const { scope } = options;
    this.#watchers = [
      ...(scope.watchesLabels
        ? [this.#watcher({ name: 'namespaces', path: '/api/v1/namespaces', pageSize: 500 }, scope.handler())]
        : []),
      ...this.#watchersOf('/api/v1', 'configmaps', 250, this.#sources.handler('configmap')),
      // Secrets can be large (Helm releases): small pages bound the memory of a list.
      ...this.#watchersOf('/api/v1', 'secrets', 50, this.#sources.handler('secret')),
      ...BUILT_IN_KINDS.flatMap((kind) => this.#workloadWatchers(kind)),
    ];
    this.#rollouts = new OptionalKindWatcher({
      listWatch: options.listWatch,
      crd: ROLLOUT_CRD,
      version: WORKLOAD_APIS.Rollout.version,
      watchers: () => this.#workloadWatchers('Rollout'),
      onGone: () => {
        this.#workloads.handler('Rollout').prune(new Set());
      },
      relistIntervalMs: options.relistIntervalMs,
      logger: this.#options.logger,
    });
    // Not among the watchers whose sync reconciling waits for: Rollouts are reconciled as they appear.
    this.#optional = [this.#rollouts.crdWatcher];
    this.#sources.onChange((namespace, id) => {
      this.#sourceChanged(namespace, id);
    });
    this.#workloads.onChange((key) => {
      this.#enqueue(key);
    });
    this.#workloads.onNewVersion((key) => {
      if (this.#awaitingVersion.delete(key)) this.#enqueue(key);
    });
    scope.onChange((namespace) => {
      for (const key of this.#workloads.inNamespace(namespace)) this.#enqueue(key);
    });
  }

  /** Starts watching. Reconciling starts with startReconciling(), when this replica leads. */
  start(): void {
    for (const watcher of [...this.#watchers, ...this.#optional]) watcher.start();
  }

  /** The resourceVersion at which the controller last saw a workload (`Kind/namespace/name`). */
  observedVersion(key: string): string | undefined {
    return this.#workloads.get(key)?.resourceVersion;
  }

  /** Undefined when every watch has synced and is up; else what is not. */
  problem(): string | undefined {
    const problems = [...this.#watchers, ...this.#optional, ...this.#rollouts.watchers].flatMap((w) => {
      if (!w.synced) return [`${w.resource} not synced${w.problem ? ` (${w.problem})` : ''}`];
      return w.problem ? [`${w.resource}: ${w.problem}`] : [];
    });
    return problems.length > 0 ? problems.join('; ') : undefined;
  }

  /** Waits for every watch to sync, queues every workload, and runs the workers. */
  async startReconciling(signal: AbortSignal): Promise<void> {
    const stopped = Promise.withResolvers<undefined>();
    const onAbort = (): void => {
      stopped.resolve(undefined);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    await Promise.race([Promise.all(this.#watchers.map((w) => w.whenSynced())), stopped.promise]);
    signal.removeEventListener('abort', onAbort);
    if (signal.aborted) return;
    this.#reconciling = true;
    for (const key of this.#workloads.keys()) this.#queue.add(key);
    const { sources, keys } = this.#sources.size();
    this.#options.logger.info({ workloads: this.#workloads.size, sources, keys }, 'caches synced; reconciling');
    this.#workers = Array.from({ length: this.#options.workers }, () => this.#work());
  }

  async stop(): Promise<void> {
    this.#queue.close();
    await Promise.all([
      ...this.#workers,
      ...[...this.#watchers, ...this.#optional].map((w) => w.stop()),
      this.#rollouts.stop(),
      this.#reloads?.stop(),
    ]);
    this.#reconciler.stop();
  }

  /** One watcher of `resource` across the cluster, or one per watched namespace. */
  #workloadWatchers(kind: WorkloadKind): ResourceWatcher<KubeObject>[] {
    const { group, version, resource } = WORKLOAD_APIS[kind];
    return this.#watchersOf(`/apis/${group}/${version}`, resource, 250, this.#workloads.handler(kind));
  }

  #watchersOf<T extends KubeObject>(
    prefix: string,
    resource: string,
    pageSize: number,
    handler: WatchHandler<T>,
  ): ResourceWatcher<KubeObject>[] {
    const namespaces = this.#options.scope.watchNamespaces;
    if (!namespaces) return [this.#watcher({ name: resource, path: apiPath(prefix, resource), pageSize }, handler)];
    return namespaces.map((namespace) =>
      this.#watcher(
        { name: resource, path: apiPath(prefix, 'namespaces', namespace, resource), namespace, pageSize },
        handler,
      ),
    );
  }

  #watcher<T extends KubeObject>(resource: WatchedResource, handler: WatchHandler<T>): ResourceWatcher<KubeObject> {
    const { listWatch, relistIntervalMs, logger, metrics } = this.#options;
    return new ResourceWatcher(listWatch, resource, handler, {
      relistIntervalMs,
      onRestart: (resource) => {
        metrics.watchRestarts.inc({ resource });
      },
      logger,
    });
  }

  #sourceChanged(namespace: string, id: SourceId): void {
    // Before the first sync, every object is new; the full pass after sync covers them.
    if (!this.#reconciling) return;
    const now = Date.now();
    for (const key of this.#workloads.consumersOf(namespace, id)) {
      if (this.#changedAt.has(key)) this.#options.metrics.rolloutsSuppressed.inc({ reason: 'coalescing' });
      else this.#changedAt.set(key, now);
      this.#queue.add(key, this.#options.coalesceWindowMs);
    }
  }

  /**
   * After a conflict (most often kube-controller-manager writing the status
   * after a rollout), the retry waits only for the watch to bring the version
   * that won: at once if it already has. The backoff stays as the backstop.
   */
  #retryOnNewVersion(key: string, conflicted: string | undefined): void {
    if (this.#workloads.get(key)?.resourceVersion === conflicted) this.#awaitingVersion.add(key);
    else this.#enqueue(key);
  }

  #enqueue(key: string): void {
    if (this.#reconciling) this.#queue.add(key);
  }

  async #work(): Promise<void> {
    for (let key = await this.#queue.next(); key !== undefined; key = await this.#queue.next()) {
      await this.#reconcileOne(key);
      this.#queue.done(key);
    }
  }

  async #reconcileOne(key: string): Promise<void> {
    const { metrics } = this.#options;
    const changedAt = this.#changedAt.get(key);
    const version = this.#workloads.get(key)?.resourceVersion;
    this.#awaitingVersion.delete(key);
    try {
      const outcome = await this.#reconciler.reconcile(key, changedAt);
      metrics.reconciles.inc({ result: outcome.result });
      this.#queue.forget(key);
      if (outcome.lookAgainAfterMs !== undefined) this.#queue.lookAgainAfter(key, outcome.lookAgainAfterMs);
      if (outcome.retryAfterMs !== undefined) {
        this.#queue.add(key, outcome.retryAfterMs);
        return;
      }
      this.#changedAt.delete(key);
    } catch (error) {
      if (error instanceof PatchRejectedError) this.#rejected(key, error);
      else this.#failed(key, error as Error, version);
    }
  }

  /** Retries with backoff; a conflict also as soon as the watch brings the workload's newer version. */
  #failed(key: string, error: Error, version: string | undefined): void {
    const conflict = error instanceof ConflictError;
    this.#options.metrics.reconciles.inc({ result: conflict ? 'conflict' : 'error' });
    const retryMs = this.#queue.addRateLimited(key, conflict ? 'conflict' : 'error');
    if (conflict) this.#retryOnNewVersion(key, version);
    else
      this.#options.logger.warn(
        { workload: key, err: error.message, retryInMs: retryMs },
        'reconcile failed; retrying',
      );
  }

  /** Not retried: the next change of the workload or its sources queues it again. */
  #rejected(key: string, error: PatchRejectedError): void {
    const { metrics, logger, events } = this.#options;
    metrics.reconciles.inc({ result: 'rejected' });
    this.#queue.forget(key);
    this.#changedAt.delete(key);
    logger.error(
      { workload: key, err: error.message },
      'the API server refused the patch; not retrying until the workload or its sources change',
    );
    const record = this.#workloads.get(key);
    if (record)
      events.record(
        workloadEventTarget(record),
        'Warning',
        'PatchRejected',
        `confighash could not update the workload: ${error.message}`,
      );
  }
}
