// Level-based reconcile of one workload: desired annotations = f(current sources),
// read from the stores; if the pod template's differ, patch them, which rolls the
// workload out. It never depends on which event woke it, so a change made while
// confighash was down is rolled out on start, and a restart rolls nothing.
//
// A workload whose template confighash never stamped (it predates confighash, or
// its namespace opted in later) is adopted: the sources summary is recorded in
// the workload's metadata (confighash.dev/baseline), which rolls nothing, and the
// template is stamped on the next effective change.
import type { Logger } from 'pino';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  checksumAnnotations,
  MISSING,
  parseSourcesSummary,
  type SourceDigest,
  type ValueHasher,
} from '../checksum/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { WorkloadPatcher } from '../kube/workload-patcher.ts';
import type { Metrics, ReconcileResult } from '../metrics.ts';
import type { NamespaceStore } from './namespace-store.ts';
import type { SourceStore } from './source-store.ts';
import type { TokenBucket } from './token-bucket.ts';
import type { WorkloadRecord, WorkloadStore } from './workload-store.ts';

export interface ReconcilerOptions {
  workloads: WorkloadStore;
  sources: SourceStore;
  namespaces: NamespaceStore;
  hasher: ValueHasher;
  patcher: WorkloadPatcher;
  events: EventRecorder;
  limiter: TokenBucket;
  /** No workload rolls twice within this window. */
  coalesceWindowMs: number;
  excludedNamespaces: ReadonlySet<string>;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

export interface Outcome {
  result: ReconcileResult;
  /** Reconcile again after this long (a rollout held back). */
  retryAfterMs?: number;
}

interface Desired {
  checksum: string;
  sources: string;
  digests: SourceDigest[];
}

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  readonly #lastRollout = new Map<string, number>();
  /** Per workload, the sources already reported missing (one Warning per disappearance). */
  readonly #reportedMissing = new Map<string, Set<string>>();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** `changedAt`: when the source change that queued this workload was seen, if one did. */
  async reconcile(key: string, changedAt?: number): Promise<Outcome> {
    const record = this.#options.workloads.get(key);
    if (!record) {
      this.#forget(key);
      return { result: 'gone' };
    }
    if (!this.#tracked(record)) return { result: 'skipped' };
    if (record.sources.length === 0) return this.#withoutSources(record);
    const desired = this.#desired(record);
    this.#reportMissing(record, desired.digests);
    const { stamped, baseline } = record;
    if (stamped.checksum === undefined) {
      if (baseline === undefined) return this.#adopt(record, desired);
      if (baseline === desired.sources) return { result: 'current' };
      return this.#rollout(record, desired, baseline, changedAt);
    }
    if (stamped.checksum === desired.checksum && stamped.sources === desired.sources) {
      return baseline === undefined ? { result: 'current' } : this.#clearBaseline(record);
    }
    return this.#rollout(record, desired, stamped.sources, changedAt);
  }

  #tracked(record: WorkloadRecord): boolean {
    const { namespaces, excludedNamespaces } = this.#options;
    return namespaces.isOptedIn(record.namespace) && !excludedNamespaces.has(record.namespace) && !record.ignored;
  }

  #desired(record: WorkloadRecord): Desired {
    const { hasher, sources } = this.#options;
    const digests = record.sources.map((source) => hasher.sourceDigest(source, sources.state(record.namespace, source.id)));
    const annotations = checksumAnnotations(digests);
    return {
      checksum: annotations[ANNOTATION.checksum] ?? '',
      sources: annotations[ANNOTATION.sources] ?? '',
      digests,
    };
  }

  /** Nothing to track; only a stale baseline to clear. Removing references is the user's rollout, not ours. */
  async #withoutSources(record: WorkloadRecord): Promise<Outcome> {
    return record.baseline === undefined ? { result: 'current' } : this.#clearBaseline(record);
  }

  async #adopt(record: WorkloadRecord, desired: Desired): Promise<Outcome> {
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: desired.sources } } });
    this.#options.logger.info({ workload: record.key, sources: desired.sources }, 'adopted workload; it rolls on its next configuration change');
    return { result: 'adopted' };
  }

  async #clearBaseline(record: WorkloadRecord): Promise<Outcome> {
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: null } } });
    return { result: 'current' };
  }

  async #rollout(record: WorkloadRecord, desired: Desired, previous: string | undefined, changedAt?: number): Promise<Outcome> {
    const held = this.#holdBack(record.key);
    if (held) return held;
    const { patcher, events, logger, metrics } = this.#options;
    await patcher.patch(record, {
      metadata: { annotations: { [BASELINE_ANNOTATION]: null } },
      spec: {
        template: {
          metadata: { annotations: { [ANNOTATION.checksum]: desired.checksum, [ANNOTATION.sources]: desired.sources } },
        },
      },
    });
    const now = this.#now();
    this.#lastRollout.set(record.key, now);
    metrics.rollouts.inc();
    if (changedAt !== undefined) metrics.rolloutLatency.observe((now - changedAt) / 1000);
    const changed = changedSources(previous, desired.sources);
    logger.info(
      { workload: record.key, changed, checksum: desired.checksum, sources: desired.sources },
      'rolling out workload: its configuration changed',
    );
    await events.record(eventTarget(record), 'Normal', 'ConfigChanged', `Rolling out: configuration changed: ${changed.join(', ')}`);
    return { result: 'rolled' };
  }

  /** Defers a rollout within the coalescing window, or beyond the rate limit. */
  #holdBack(key: string): Outcome | undefined {
    const { coalesceWindowMs, limiter, metrics } = this.#options;
    const now = this.#now();
    const last = this.#lastRollout.get(key);
    if (last !== undefined && now < last + coalesceWindowMs) {
      metrics.rolloutsSuppressed.inc({ reason: 'coalescing' });
      return { result: 'deferred', retryAfterMs: last + coalesceWindowMs - now };
    }
    const wait = limiter.take();
    if (wait > 0) {
      metrics.rolloutsSuppressed.inc({ reason: 'rate_limit' });
      return { result: 'deferred', retryAfterMs: wait };
    }
    return undefined;
  }

  #reportMissing(record: WorkloadRecord, digests: readonly SourceDigest[]): void {
    const reported = this.#reportedMissing.get(record.key) ?? new Set<string>();
    for (const { id, digest } of digests) {
      if (digest !== MISSING) {
        reported.delete(id);
        continue;
      }
      if (reported.has(id)) continue;
      reported.add(id);
      this.#options.logger.warn({ workload: record.key, source: id }, 'a source of the workload does not exist');
      void this.#options.events.record(
        eventTarget(record),
        'Warning',
        'MissingSource',
        `${id} does not exist; its digest is "missing" until it is created, and then the workload rolls once`,
      );
    }
    if (reported.size > 0) this.#reportedMissing.set(record.key, reported);
    else this.#reportedMissing.delete(record.key);
  }

  #forget(key: string): void {
    this.#lastRollout.delete(key);
    this.#reportedMissing.delete(key);
  }
}

/** The sources whose short digest differs, e.g. `configmap/app (1f3a9c0e2b7d → 5e0c2f7a1b3d)`. */
export function changedSources(previous: string | undefined, next: string): string[] {
  const before = parseSourcesSummary(previous);
  const after = parseSourcesSummary(next);
  const ids = [...new Set([...before.keys(), ...after.keys()])].sort();
  return ids
    .filter((id) => before.get(id) !== after.get(id))
    .map((id) => `${id} (${before.get(id) ?? 'untracked'} → ${after.get(id) ?? 'untracked'})`);
}

function eventTarget(record: WorkloadRecord): { apiVersion: string; kind: string; namespace: string; name: string; uid: string } {
  return { apiVersion: 'apps/v1', kind: record.kind, namespace: record.namespace, name: record.name, uid: record.uid };
}
