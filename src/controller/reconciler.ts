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
//   the next effective change. The baseline is the configuration as it was when the
//   workload was created (adoption.ts): a source changed between its creation and
//   its adoption makes it roll once, instead of being taken for what its pods run.
// - Every rollout it causes has its audit record (a ConfigChanged Event and a log
//   line), even when the patch's answer is lost (a timeout after the API server
//   applied it): the intent is kept until the template is seen carrying it.
// - What is reported (missing sources, too many sources) is reported once per
//   condition and workload, in one Event, however many sources it concerns.
import type { Logger } from 'pino';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  changedIds,
  currentFingerprint,
  disappearedRequired,
  type Fingerprint,
  formatBaseline,
  isValidObjectName,
  MISSING,
  parseBaseline,
  parseSourcesSummary,
  RELOADED_ANNOTATION,
  ROLLOUT_ANNOTATION,
  type SourceId,
  type SourceState,
  type Stamp,
  type Subject,
  tooManySourcesMessage,
  type ValueHasher,
  type Verdict,
  verify,
} from '../checksum/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { SourceReader } from '../sources/reader.ts';
import type { CronJobRunner } from '../workloads/cronjob-runner.ts';
import type { WorkloadPatcher } from '../workloads/patcher.ts';
import type { Metrics, ReconcileResult } from '../telemetry/metrics.ts';
import type { NamespaceScope } from '../scope/namespace-scope.ts';
import type { SourceStore } from '../sources/store.ts';
import type { TokenBucket } from '../time/token-bucket.ts';
import type { ApprovalChange } from '../policy/approval.ts';
import type { NoticePublisher } from '../notify/notifier.ts';
import { HeldNotices } from './held-notices.ts';
import { rolloutStarted, sourceMissing } from './notices.ts';
import type { Gatekeeper } from './gatekeeper.ts';
import { stateAtCreation } from './adoption.ts';
import type { ReloadTracker } from './reload-tracker.ts';
import type { RolloutFollower } from './rollout-follower.ts';
import { StampOrigins } from './stamp-origins.ts';
import { type WorkloadRecord, type WorkloadStore, workloadEventTarget } from './workload-store.ts';

export interface ReconcilerOptions {
  workloads: WorkloadStore;
  sources: SourceStore;
  scope: Pick<NamespaceScope, 'tracks'>;
  hasher: ValueHasher;
  /** Live reads, to confirm a change before rolling (unless stamp-origins.ts says the stores are not behind). */
  reader: SourceReader;
  patcher: Pick<WorkloadPatcher, 'patch' | 'stamp'>;
  events: Pick<EventRecorder, 'record'>;
  /** Told of each rollout started and each required source found missing. */
  notices?: NoticePublisher;
  /** Starts a Job now after a CronJob's config rollout (confighash.dev/cronjob-run-now). */
  jobs?: CronJobRunner;
  limiter: Pick<TokenBucket, 'take' | 'giveBack'>;
  /** Follows reloads in place to their end (workloads with the reload strategy). */
  reloads?: Pick<ReloadTracker, 'track' | 'forget'>;
  /** Holds config rollouts back while their policies or the approval hook say so. */
  gatekeeper?: Pick<Gatekeeper, 'hold' | 'forget' | 'review'>;
  /** Follows config rollouts to their end. */
  follower?: Pick<RolloutFollower, 'follow'>;
  /** No workload rolls twice within this window. */
  coalesceWindowMs: number;
  /** How long a missing-source notice waits to be sure (30 s). */
  missingNoticeGraceMs?: number;
  /** When confighash was installed (its HMAC key's creation, ms): adoption.ts judges no change made before. */
  installedAt?: number | undefined;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}

export interface Outcome {
  result: ReconcileResult;
  /** Reconcile again after this long: work still waiting (coalescing, the rate limit), kept in the queue. */
  retryAfterMs?: number;
  /**
   * Look at the workload again after this long: a hold that may end (a window, a
   * pace, an approval), or a deadline to check. Not queued work: a timer queues it then.
   */
  lookAgainAfterMs?: number;
}

/** The stamp the workload's configuration is compared with, and where it was found. */
interface Reference {
  stamp: Stamp;
  from: 'template' | 'baseline';
  verdict: Exclude<Verdict, { kind: 'unverifiable' }>;
}

/** What a rollout would stamp, the sources that changed for it, and where their states came from. */
interface ToRoll {
  current: Fingerprint;
  changed: SourceId[];
  subject: Subject;
}

/** A rollout patched (or being patched), and what its audit record says. */
interface Rollout {
  checksum: string;
  from: string | undefined;
  /** As written to confighash.dev/rollout. */
  startedAt: string;
  sources: string;
  changes: ApprovalChange[];
  changedAt: number | undefined;
}

/** An adoption looks again this soon for the stores to hold a source that exists (its arrival queues it anyway). */
const STORES_BEHIND_RETRY_MS = 1000;
/** Source ids listed in one Event; the rest are counted. */
const MAX_LISTED = 10;
/** A missing source is told if it is still missing, and its workload still there, this much later. */
const MISSING_NOTICE_GRACE_MS = 30_000;

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  readonly #lastRollout = new Map<string, number>();
  /** Per workload, the sources already reported missing (one Warning per disappearance). */
  readonly #reportedMissing = new Map<string, Set<string>>();
  /** Workloads already reported as consuming too many sources. */
  readonly #reportedTooMany = new Set<string>();
  /** Per workload, a rollout whose patch has not been confirmed (its answer may have been lost). */
  readonly #unconfirmed = new Map<string, Rollout>();
  /** What the stamps this replica wrote were computed from: when a rollout needs no live read. */
  readonly #origins = new StampOrigins();
  /** Missing-source notices, told only if still true after a grace period (see held-notices.ts). */
  readonly #heldMissing: HeldNotices | undefined;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#heldMissing = options.notices && new HeldNotices(options.notices, options.missingNoticeGraceMs ?? MISSING_NOTICE_GRACE_MS);
  }

  stop(): void {
    this.#heldMissing?.stop();
  }

  /** `changedAt`: when the source change that queued this workload was seen, if one did. */
  async reconcile(key: string, changedAt?: number): Promise<Outcome> {
    const record = this.#options.workloads.get(key);
    if (!record) {
      this.forget(key);
      return { result: 'gone' };
    }
    this.#confirm(record);
    if (!this.#tracked(record)) return { result: 'skipped' };
    this.#options.gatekeeper?.review(record);
    if (record.consumedCount > record.sources.length) return this.#tooMany(record);
    const lookAgainMs = await this.#options.follower?.follow(record);
    const outcome = await this.#reconcileRolling(record, changedAt);
    if (record.reload && outcome.result === 'current') await this.#reconcileReload(record);
    return lookAgain(outcome, lookAgainMs);
  }

  /** What rolls: the template's stamp against the sources it covers. */
  async #reconcileRolling(record: WorkloadRecord, changedAt: number | undefined): Promise<Outcome> {
    const stored = this.#storedSubject(record);
    const current = currentFingerprint(this.#options.hasher, stored);
    if (!current) return this.#withoutSources(record);
    const reference = this.#reference(record, stored);
    this.#reportMissing(record, current, reference?.stamp);
    if (!reference) return this.#adopt(record, current);
    if (reference.verdict.kind === 'current') return this.#current(record, reference);
    return this.#rollout(record, reference, stored, changedAt);
  }

  /**
   * What is reloaded in place: the workload's confighash.dev/reloaded mark
   * against its reloaded sources now. First seen, the mark is recorded (its pods
   * started with them); a difference is a reload to follow to its end.
   */
  async #reconcileReload(record: WorkloadRecord): Promise<void> {
    const current = this.#reloadStamp(record);
    if (!current) return;
    const mark = parseBaseline(record.reloadedMark);
    const verdict = mark && verify(this.#options.hasher, mark, this.#reloadSubject(record));
    if (verdict?.kind === 'current') return;
    if (mark && verdict?.kind === 'changed') {
      this.#options.reloads?.track(record, current, mark.sources);
      return;
    }
    await this.#options.patcher.patch(record, { metadata: { annotations: { [RELOADED_ANNOTATION]: formatBaseline(current) } } });
  }

  #reloadSubject(record: WorkloadRecord): Subject {
    const { sources } = this.#options;
    return { namespace: record.namespace, sources: record.reload?.sources ?? [], stateOf: (id) => sources.state(record.namespace, id) };
  }

  /** The reloaded sources' stamp now, from the stores. */
  #reloadStamp(record: WorkloadRecord): Stamp | undefined {
    return record.reload ? currentFingerprint(this.#options.hasher, this.#reloadSubject(record))?.stamp : undefined;
  }

  /** What changed between two stamps: per source, the short digests, and the consumed keys whose values changed when the stores know them. */
  #changes(record: WorkloadRecord, before: string, after: string, changed: readonly SourceId[]): ApprovalChange[] {
    const was = parseSourcesSummary(before);
    const now = parseSourcesSummary(after);
    return changed.map((id) => {
      const keys = this.#options.sources.changedKeys(record.namespace, id, record.sources.find((s) => s.id === id)?.keys);
      return { source: id, from: was.get(id), to: now.get(id), ...(keys ? { keys } : {}) };
    });
  }

  /** Drops what is remembered of a workload that no longer exists. */
  forget(key: string): void {
    this.#options.reloads?.forget(key);
    this.#options.gatekeeper?.forget(key);
    this.#lastRollout.delete(key);
    this.#reportedMissing.delete(key);
    this.#reportedTooMany.delete(key);
    this.#unconfirmed.delete(key);
    this.#origins.forget(key);
    this.#heldMissing?.cancel(key);
  }

  /**
   * A rollout whose patch failed without an answer (a timeout) may have been
   * applied: if the workload records this very rollout (its checksum and start
   * time, which no other writer can have written), it was, and its audit record
   * is written now. Otherwise it is dropped (a webhook or another replica may
   * have stamped the same checksum); a retry that patches keeps a new one.
   */
  #confirm(record: WorkloadRecord): void {
    const rollout = this.#unconfirmed.get(record.key);
    if (!rollout) return;
    this.#unconfirmed.delete(record.key);
    const recorded = record.rollout;
    if (recorded?.checksum === rollout.checksum && recorded.startedAt.toISOString() === rollout.startedAt) this.#rolledOut(record, rollout, 'the patch was applied, though its answer was lost');
  }

  #tooMany(record: WorkloadRecord): Outcome {
    if (!this.#reportedTooMany.has(record.key)) {
      this.#reportedTooMany.add(record.key);
      const message = `Not tracked: ${tooManySourcesMessage(record.consumedCount)}.`;
      this.#options.logger.warn({ workload: record.key, sources: record.consumedCount }, 'not tracking the workload: it consumes too many sources');
      this.#options.events.record(workloadEventTarget(record), 'Warning', 'TooManySources', message);
    }
    return { result: 'skipped' };
  }

  #tracked(record: WorkloadRecord): boolean {
    return this.#options.scope.tracks(record.namespace, record.reloader) && !record.ignored;
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

  /** Nothing to roll; only a baseline made stale by a stamp, or a hold made stale by a user's own rollout, to clear. */
  async #current(record: WorkloadRecord, reference: Reference): Promise<Outcome> {
    const stale: Record<string, null> = {
      ...(reference.from === 'template' && record.baseline !== undefined ? { [BASELINE_ANNOTATION]: null } : {}),
      ...(record.deferred !== undefined ? { [ROLLOUT_ANNOTATION.deferred]: null } : {}),
    };
    if (Object.keys(stale).length > 0) await this.#options.patcher.patch(record, { metadata: { annotations: stale } });
    return { result: 'current' };
  }

  /** Nothing to track; only a stale baseline to clear. Removing references is the user's rollout, not ours. */
  async #withoutSources(record: WorkloadRecord): Promise<Outcome> {
    return record.baseline === undefined ? { result: 'current' } : this.#clearBaseline(record);
  }

  /**
   * Records the configuration the workload was created with as its baseline: where
   * a source changed since, the baseline differs from the stores, and the next
   * reconcile rolls the workload once, as for any change.
   */
  async #adopt(record: WorkloadRecord, current: Fingerprint): Promise<Outcome> {
    if (await this.#storesBehind(record)) return { result: 'skipped', retryAfterMs: STORES_BEHIND_RETRY_MS };
    const created = currentFingerprint(this.#options.hasher, this.#subjectAtCreation(record)) ?? current;
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: formatBaseline(created.stamp) } } });
    const changed = changedIds(created.stamp.sources, current.stamp.sources);
    if (changed.length === 0) this.#options.logger.info({ workload: record.key, sources: current.stamp.sources }, 'adopted workload; it rolls on its next configuration change');
    else this.#options.logger.info({ workload: record.key, changed }, 'adopted workload; its configuration changed after it was created, so it rolls once');
    return { result: 'adopted' };
  }

  /**
   * A source the stores do not hold yet may exist: its watch event can come after the
   * workload's (two streams, no order between them). Adopted then, it would count as
   * missing at creation, and its arrival as a change. A live read tells.
   */
  async #storesBehind(record: WorkloadRecord): Promise<boolean> {
    const absent = record.sources.filter((source) => !this.#options.sources.state(record.namespace, source.id).exists);
    if (absent.length === 0) return false;
    const live = await this.#options.reader.read(record.namespace, absent);
    return [...live.values()].some((state) => state.exists);
  }

  /** The workload's sources as they were when it was created; one whose state then is unknown counts as missing. */
  #subjectAtCreation(record: WorkloadRecord): Subject {
    const { sources, installedAt } = this.#options;
    const stateOf = (id: SourceId): SourceState => {
      const now = sources.state(record.namespace, id);
      const history = sources.history(record.namespace, id);
      if (!now.exists || !history) return now;
      const then = stateAtCreation({ ...record.creation, latestResourceVersion: record.resourceVersion }, history, installedAt);
      if (then.kind === 'current') return now;
      return then.kind === 'previous' ? { ...now, keys: then.keys } : { exists: false };
    };
    return { namespace: record.namespace, sources: record.sources, stateOf };
  }

  async #clearBaseline(record: WorkloadRecord): Promise<Outcome> {
    await this.#options.patcher.patch(record, { metadata: { annotations: { [BASELINE_ANNOTATION]: null } } });
    return { result: 'current' };
  }

  /**
   * The rollout takes its token before it reads anything: a workload waiting to
   * coalesce or for the rate limit costs no reads, and none reads only to find
   * the token taken meanwhile. The token goes back when nothing rolls.
   */
  async #rollout(record: WorkloadRecord, reference: Reference, stored: Subject, changedAt?: number): Promise<Outcome> {
    const waiting = this.#coalescing(record.key) ?? this.#rateLimited();
    if (waiting) return waiting;
    const { limiter } = this.#options;
    const outcome = await this.#rollWithToken(record, reference, stored, changedAt).catch((error: unknown) => {
      limiter.giveBack();
      throw error;
    });
    if (outcome.result !== 'rolled') limiter.giveBack();
    return outcome;
  }

  async #rollWithToken(record: WorkloadRecord, reference: Reference, stored: Subject, changedAt: number | undefined): Promise<Outcome> {
    const next = await this.#toRoll(record, reference, stored);
    if (!next) return { result: 'current' };
    const gone = disappearedRequired(reference.stamp, next.current, record.sources);
    if (gone.length > 0) return this.#holdForMissing(record, gone);
    const { checksum = '', sources } = next.current.stamp;
    const changes = this.#changes(record, reference.stamp.sources, sources, next.changed);
    const held = await this.#options.gatekeeper?.hold(record, { checksum, from: reference.stamp.checksum, changes });
    if (held) return { result: 'deferred', lookAgainAfterMs: held.retryAfterMs };

    const rollout: Rollout = { checksum, from: reference.stamp.checksum, startedAt: new Date(this.#now()).toISOString(), sources, changes, changedAt };
    this.#unconfirmed.set(record.key, rollout);
    // New pods start with the reloaded sources as they are: the rollout delivers those too.
    const reloaded = this.#reloadStamp(record);
    const { generation } = await this.#options.patcher.stamp(record, {
      workload: {
        [BASELINE_ANNOTATION]: null,
        // Where this rollout is followed from, by this replica or the next leader (see rollout-follower.ts).
        [ROLLOUT_ANNOTATION.started]: `${checksum} ${rollout.startedAt}`,
        [ROLLOUT_ANNOTATION.result]: null,
        [ROLLOUT_ANNOTATION.deferred]: null,
        ...(reloaded ? { [RELOADED_ANNOTATION]: formatBaseline(reloaded) } : {}),
      },
      template: { [ANNOTATION.checksum]: checksum, [ANNOTATION.sources]: sources },
    });
    this.#unconfirmed.delete(record.key);
    this.#origins.record(record.key, { checksum, generation }, record.sources, next.subject.stateOf);
    // A reload under way is superseded: the new pods start with the new configuration.
    this.#options.reloads?.forget(record.key);
    this.#rolledOut(record, rollout);
    await this.#runNow(record, checksum);
    return { result: 'rolled' };
  }

  /** One Job now from the CronJob's new template; a failure is told, and the rollout stands. */
  async #runNow(record: WorkloadRecord, checksum: string): Promise<void> {
    const { jobs, events, logger } = this.#options;
    if (!record.runNow || !jobs) return;
    try {
      const { job, existed } = await jobs.runNow(record.namespace, record.name, checksum);
      if (existed) return;
      logger.info({ workload: record.key, job }, 'started a Job from the new template (cronjob-run-now)');
      events.record(workloadEventTarget(record), 'Normal', 'JobStarted', `Started Job ${job} from the new template (confighash.dev/cronjob-run-now)`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      logger.warn({ workload: record.key, err: reason }, 'could not start a Job from the new template');
      events.record(workloadEventTarget(record), 'Warning', 'JobNotStarted', `Could not start a Job from the new template (confighash.dev/cronjob-run-now): ${reason}; its next scheduled Job runs it`);
    }
  }

  /** The audit record of a rollout: metrics, a log line, a ConfigChanged Event and its notice. */
  #rolledOut(record: WorkloadRecord, rollout: Rollout, note?: string): void {
    const { events, logger, metrics, notices } = this.#options;
    const now = this.#now();
    this.#lastRollout.set(record.key, now);
    metrics.rollouts.inc();
    if (rollout.changedAt !== undefined) metrics.rolloutLatency.observe((now - rollout.changedAt) / 1000);
    const { checksum, from, startedAt, sources, changes } = rollout;
    const changed = describeChangeList(changes);
    logger.info({ workload: record.key, changed, checksum, sources, ...(note ? { note } : {}) }, 'rolling out workload: its configuration changed');
    events.record(workloadEventTarget(record), 'Normal', 'ConfigChanged', `Rolling out: configuration changed: ${changed.join(', ')}`);
    notices?.publish(rolloutStarted(record, { checksum, from, startedAt, changes, trigger: 'configuration-change' }));
  }

  /** What the rollout would stamp: from the stores when they are known not to be behind the stamp, else from live reads. */
  async #toRoll(record: WorkloadRecord, reference: Reference, stored: Subject): Promise<ToRoll | undefined> {
    return this.#fromStores(record, reference, stored) ?? this.#liveFingerprint(record, reference);
  }

  /**
   * The sources as the stores hold them, when the stores are known not to be
   * behind the template's stamp (see stamp-origins.ts); undefined when that is not known.
   */
  #fromStores(record: WorkloadRecord, reference: Reference, stored: Subject): ToRoll | undefined {
    if (reference.from !== 'template' || reference.verdict.kind !== 'changed' || !this.#origins.storesCaughtUp(record, stored.stateOf)) return undefined;
    const current = currentFingerprint(this.#options.hasher, stored);
    return current && { current, changed: reference.verdict.changed, subject: stored };
  }

  /**
   * The sources as the API server has them now, compared with the reference;
   * undefined when they match it (the stores were behind: their watch events
   * are on their way, and change nothing).
   */
  async #liveFingerprint(record: WorkloadRecord, reference: Reference): Promise<ToRoll | undefined> {
    const { reader, hasher, logger } = this.#options;
    const states = await reader.read(record.namespace, record.sources);
    const subject: Subject = { namespace: record.namespace, sources: record.sources, stateOf: (id) => states.get(id) ?? { exists: false } };
    const verdict = verify(hasher, reference.stamp, subject);
    const current = currentFingerprint(hasher, subject);
    if (verdict.kind === 'current' || !current) {
      logger.debug({ workload: record.key }, 'the live configuration matches the stamp; the stores are catching up');
      return undefined;
    }
    return { current, changed: verdict.kind === 'changed' ? verdict.changed : changedIds(reference.stamp.sources, current.stamp.sources), subject };
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

  /** Takes a token of the cluster-wide rate limit, or defers the rollout until one is due. */
  #rateLimited(): Outcome | undefined {
    const wait = this.#options.limiter.take();
    if (wait <= 0) return undefined;
    this.#options.metrics.rolloutsSuppressed.inc({ reason: 'rate_limit' });
    return { result: 'deferred', retryAfterMs: wait };
  }

  /**
   * One Warning per required source per disappearance, all of a reconcile's in
   * one Event; optional sources may be absent by design.
   */
  #reportMissing(record: WorkloadRecord, current: Fingerprint, previous: Stamp | undefined): void {
    const reported = this.#reportedMissing.get(record.key) ?? new Set<string>();
    const required = new Set(record.sources.filter((s) => !s.optional).map((s) => s.id));
    const before = parseSourcesSummary(previous?.sources);
    const news: MissingSources = { deleted: [], absent: [], invalid: [] };
    for (const { id, digest } of current.digests) {
      if (digest !== MISSING || !required.has(id)) {
        reported.delete(id);
      } else if (!reported.has(id)) {
        reported.add(id);
        news[missingKind(id, before)].push(id);
      }
    }
    if (reported.size > 0) this.#reportedMissing.set(record.key, reported);
    else this.#reportedMissing.delete(record.key);
    const message = missingMessage(news);
    if (!message) return;
    this.#options.logger.warn({ workload: record.key, missing: message }, 'required sources of the workload do not exist');
    this.#options.events.record(workloadEventTarget(record), 'Warning', 'MissingSource', message);
    const missing = (Object.keys(news) as (keyof MissingSources)[]).flatMap((state) => news[state].map((source) => ({ source, state })));
    const stillMissing = (): boolean => this.#options.workloads.get(record.key) !== undefined && missing.some(({ source }) => this.#reportedMissing.get(record.key)?.has(source));
    this.#heldMissing?.hold(record.key, sourceMissing(record, missing, current.stamp.checksum), stillMissing);
  }
}

interface MissingSources {
  deleted: SourceId[];
  absent: SourceId[];
  invalid: SourceId[];
}

/** Why a required source is missing: deleted (it was there before), never created, or a name no object can have. */
function missingKind(id: SourceId, before: ReadonlyMap<string, string>): keyof MissingSources {
  if (!isValidObjectName(id.slice(id.indexOf('/') + 1))) return 'invalid';
  return before.has(id) && before.get(id) !== MISSING ? 'deleted' : 'absent';
}

/** What each kind of missing source means, said of one source or of several. */
const MISSING_PHRASES: Record<keyof MissingSources, (one: boolean, first: string) => string> = {
  deleted: (one, first) =>
    `${one ? 'was' : 'were'} deleted: the workload is not rolled (new pods could not start); it rolls once when ${one ? `${first} exists` : 'they exist'} again with different content`,
  absent: (one) => `${one ? 'does' : 'do'} not exist; ${one ? 'its digest is' : 'their digests are'} "missing" until created, and then the workload rolls once`,
  invalid: (one) => `${one ? 'is not a valid name' : 'are not valid names'} for a ConfigMap or Secret: recorded as "missing", never read`,
};

/** One message for every source newly found missing, by what that means; undefined when there are none. */
function missingMessage(missing: MissingSources): string | undefined {
  const parts = (Object.keys(MISSING_PHRASES) as (keyof MissingSources)[])
    .filter((kind) => missing[kind].length > 0)
    .map((kind) => `${listed(missing[kind])} ${MISSING_PHRASES[kind](missing[kind].length === 1, missing[kind][0] ?? '')}`);
  return parts.length > 0 ? parts.join('. ') : undefined;
}

/** `a, b, c and 12 more`. */
function listed(ids: readonly SourceId[]): string {
  const shown = ids.slice(0, MAX_LISTED).join(', ');
  return ids.length > MAX_LISTED ? `${shown} and ${ids.length - MAX_LISTED} more` : shown;
}

/** A reconcile's outcome, looked at again no later than `afterMs` (a rollout's deadline) when one is given. */
function lookAgain(outcome: Outcome, afterMs: number | undefined): Outcome {
  if (afterMs === undefined) return outcome;
  return { ...outcome, lookAgainAfterMs: Math.min(outcome.lookAgainAfterMs ?? afterMs, afterMs) };
}

/** `configmap/app (1f3a9c0e2b7d → 5e0c2f7a1b3d: keys LOG_LEVEL, timeout.conf)`, key names only, never values. */
function describeChangeList(changes: readonly ApprovalChange[]): string[] {
  // The summaries list only their first sources when there are very many (see sourcesSummary).
  if (changes.length === 0) return ['sources the sources annotation does not list'];
  return changes.map(({ source, from, to, keys }) => `${source} (${from ?? 'untracked'} → ${to ?? 'untracked'}${keys && keys.length > 0 ? `: keys ${keys.join(', ')}` : ''})`);
}
