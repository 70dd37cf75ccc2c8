// Level-based reconcile of one workload: the stamp its pod template should carry
// is a function of its sources now, read from the stores; if the template's
// differs, patch it, which rolls the workload out. It never depends on which
// event woke it, so a change made while confighash was down is rolled out on
// start, and a restart rolls nothing.
//
// - A stamp is judged in the format it was written in (see checksum/stamp.ts):
//   a new format or a new signing key rolls nothing.
// - Before rolling, the sources are read live, as the webhook reads them: the
//   stores may lag behind a stamp the webhook has just written from newer
//   sources, and a stamp must never be moved backwards.
// - A required source that disappeared holds the rollout: the new pods could
//   not start, while the running ones are fine. It rolls once the source exists
//   again, if it then differs.
// - A workload whose template confighash never stamped (it predates confighash,
//   or its namespace opted in later), or whose stamp it can no longer verify, is
//   adopted: its stamp is recorded in the workload's metadata
//   (confighash.dev/baseline), which rolls nothing, and the template is stamped on
//   the next effective change.
import type { Logger } from 'pino';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  changedIds,
  currentFingerprint,
  disappearedRequired,
  type Fingerprint,
  formatBaseline,
  MISSING,
  parseBaseline,
  parseSourcesSummary,
  type SourceId,
  type Stamp,
  type Subject,
  type ValueHasher,
  type Verdict,
  verify,
} from '../checksum/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SourceReader } from '../kube/source-reader.ts';
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
  /** Live reads, to confirm a change before rolling. */
  reader: SourceReader;
  patcher: Pick<WorkloadPatcher, 'patch'>;
  events: Pick<EventRecorder, 'record'>;
  limiter: Pick<TokenBucket, 'take'>;
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

/** The stamp the workload's configuration is compared with, and where it was found. */
interface Reference {
  stamp: Stamp;
  from: 'template' | 'baseline';
  verdict: Exclude<Verdict, { kind: 'unverifiable' }>;
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
      this.forget(key);
      return { result: 'gone' };
    }
    if (!this.#tracked(record)) return { result: 'skipped' };
    const stored = this.#storedSubject(record);
    const current = currentFingerprint(this.#options.hasher, stored);
    if (!current) return this.#withoutSources(record);
    const reference = this.#reference(record, stored);
    this.#reportMissing(record, current, reference?.stamp);
    if (!reference) return this.#adopt(record, current);
    if (reference.verdict.kind === 'current') {
      const clear = reference.from === 'template' && record.baseline !== undefined;
      return clear ? this.#clearBaseline(record) : { result: 'current' };
    }
    return this.#rollout(record, reference, changedAt);
  }

  /** Drops what is remembered of a workload that no longer exists. */
  forget(key: string): void {
    this.#lastRollout.delete(key);
    this.#reportedMissing.delete(key);
  }

  #tracked(record: WorkloadRecord): boolean {
    const { namespaces, excludedNamespaces } = this.#options;
    return namespaces.isOptedIn(record.namespace) && !excludedNamespaces.has(record.namespace) && !record.ignored;
  }

  #storedSubject(record: WorkloadRecord): Subject {
    const { sources } = this.#options;
    return { namespace: record.namespace, sources: record.sources, stateOf: (id) => sources.state(record.namespace, id) };
  }

  /** The template's stamp, else the baseline: the first of them that can be verified. */
  #reference(record: WorkloadRecord, subject: Subject): Reference | undefined {
    const { hasher, logger } = this.#options;
    const candidates: [Reference['from'], Stamp | undefined][] = [
      ['template', record.stamped.checksum === undefined ? undefined : { checksum: record.stamped.checksum, sources: record.stamped.sources ?? '' }],
      ['baseline', parseBaseline(record.baseline)],
    ];
    for (const [from, stamp] of candidates) {
      if (!stamp) continue;
      const verdict = verify(hasher, stamp, subject);
      if (verdict.kind !== 'unverifiable') return { stamp, from, verdict };
      logger.info({ workload: record.key, from, reason: verdict.reason }, 'cannot verify the stamp; adopting the workload anew');
    }
    return undefined;
  }

  /** Nothing to track; only a stale baseline to clear. Removing references is the user's rollout, not ours. */
  async #withoutSources(record: WorkloadRecord): Promise<Outcome> {
    return record.baseline === undefined ? { result: 'current' } : this.#clearBaseline(record);
  }

  async #adopt(record: WorkloadRecord, current: Fingerprint): Promise<Outcome> {
    const baseline = formatBaseline(current.stamp);
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: baseline } } });
    this.#options.logger.info({ workload: record.key, sources: current.stamp.sources }, 'adopted workload; it rolls on its next configuration change');
    return { result: 'adopted' };
  }

  async #clearBaseline(record: WorkloadRecord): Promise<Outcome> {
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: null } } });
    return { result: 'current' };
  }

  async #rollout(record: WorkloadRecord, reference: Reference, changedAt?: number): Promise<Outcome> {
    const coalescing = this.#coalescing(record.key);
    if (coalescing) return coalescing;
    const live = await this.#liveFingerprint(record, reference);
    if (!live) return { result: 'current' };
    const gone = disappearedRequired(reference.stamp, live.current, record.sources);
    if (gone.length > 0) return this.#holdForMissing(record, gone);
    const limited = this.#rateLimited();
    if (limited) return limited;

    const { patcher, events, logger, metrics } = this.#options;
    const { checksum = '', sources } = live.current.stamp;
    await patcher.patch(record, {
      metadata: { annotations: { [BASELINE_ANNOTATION]: null } },
      spec: { template: { metadata: { annotations: { [ANNOTATION.checksum]: checksum, [ANNOTATION.sources]: sources } } } },
    });
    const now = this.#now();
    this.#lastRollout.set(record.key, now);
    metrics.rollouts.inc();
    if (changedAt !== undefined) metrics.rolloutLatency.observe((now - changedAt) / 1000);
    const changed = describeChanges(live.changed, reference.stamp.sources, sources);
    logger.info({ workload: record.key, changed, checksum, sources }, 'rolling out workload: its configuration changed');
    await events.record(eventTarget(record), 'Normal', 'ConfigChanged', `Rolling out: configuration changed: ${changed.join(', ')}`);
    return { result: 'rolled' };
  }

  /**
   * The sources as the API server has them now, compared with the reference;
   * undefined when they match it (the stores were behind: their watch events
   * are on their way, and change nothing).
   */
  async #liveFingerprint(record: WorkloadRecord, reference: Reference): Promise<{ current: Fingerprint; changed: SourceId[] } | undefined> {
    const { reader, hasher, logger } = this.#options;
    const states = await reader.read(record.namespace, record.sources);
    const subject: Subject = { namespace: record.namespace, sources: record.sources, stateOf: (id) => states.get(id) ?? { exists: false } };
    const verdict = verify(hasher, reference.stamp, subject);
    const current = currentFingerprint(hasher, subject);
    if (verdict.kind === 'current' || !current) {
      logger.debug({ workload: record.key }, 'the live configuration matches the stamp; the stores are catching up');
      return undefined;
    }
    return { current, changed: verdict.kind === 'changed' ? verdict.changed : changedIds(reference.stamp.sources, current.stamp.sources) };
  }

  #holdForMissing(record: WorkloadRecord, gone: readonly SourceId[]): Outcome {
    this.#options.metrics.rolloutsSuppressed.inc({ reason: 'missing_source' });
    this.#options.logger.warn({ workload: record.key, sources: gone }, 'not rolling: a required source was deleted, and new pods could not start');
    return { result: 'missing-source' };
  }

  /** Defers a rollout within the coalescing window of the last one. */
  #coalescing(key: string): Outcome | undefined {
    const { coalesceWindowMs, metrics } = this.#options;
    const now = this.#now();
    const last = this.#lastRollout.get(key);
    if (last === undefined || now >= last + coalesceWindowMs) return undefined;
    metrics.rolloutsSuppressed.inc({ reason: 'coalescing' });
    return { result: 'deferred', retryAfterMs: last + coalesceWindowMs - now };
  }

  /** Defers a rollout beyond the cluster-wide rate limit. */
  #rateLimited(): Outcome | undefined {
    const wait = this.#options.limiter.take();
    if (wait <= 0) return undefined;
    this.#options.metrics.rolloutsSuppressed.inc({ reason: 'rate_limit' });
    return { result: 'deferred', retryAfterMs: wait };
  }

  /** One Warning per required source per disappearance; optional sources may be absent by design. */
  #reportMissing(record: WorkloadRecord, current: Fingerprint, previous: Stamp | undefined): void {
    const reported = this.#reportedMissing.get(record.key) ?? new Set<string>();
    const required = new Set(record.sources.filter((s) => !s.optional).map((s) => s.id));
    const before = parseSourcesSummary(previous?.sources);
    for (const { id, digest } of current.digests) {
      if (digest !== MISSING || !required.has(id)) {
        reported.delete(id);
        continue;
      }
      if (reported.has(id)) continue;
      reported.add(id);
      const deleted = before.has(id) && before.get(id) !== MISSING;
      this.#options.logger.warn({ workload: record.key, source: id, deleted }, 'a required source of the workload does not exist');
      const message = deleted
        ? `${id} was deleted: the workload is not rolled (new pods could not start); it rolls once when ${id} exists again with different content`
        : `${id} does not exist; its digest is "missing" until it is created, and then the workload rolls once`;
      void this.#options.events.record(eventTarget(record), 'Warning', 'MissingSource', message);
    }
    if (reported.size > 0) this.#reportedMissing.set(record.key, reported);
    else this.#reportedMissing.delete(record.key);
  }
}

/** `configmap/app (1f3a9c0e2b7d → 5e0c2f7a1b3d)` for each changed source: short digests as stamped before and now. */
function describeChanges(changed: readonly SourceId[], before: string, after: string): string[] {
  const was = parseSourcesSummary(before);
  const now = parseSourcesSummary(after);
  return changed.map((id) => `${id} (${was.get(id) ?? 'untracked'} → ${now.get(id) ?? 'untracked'})`);
}

function eventTarget(record: WorkloadRecord): { apiVersion: string; kind: string; namespace: string; name: string; uid: string } {
  return { apiVersion: 'apps/v1', kind: record.kind, namespace: record.namespace, name: record.name, uid: record.uid };
}
