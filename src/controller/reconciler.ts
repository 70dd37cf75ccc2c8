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
//
// What it decides is carried out by parts of their own, each forgetting what it
// keeps of a workload when the workload goes: the pace of rollouts
// (rollout-pacing.ts), their audit record (rollout-audit.ts), the reports of
// missing and too many sources (source-reports.ts), reload marks
// (reload-marks.ts), a CronJob's Job after its rollout (run-now.ts).
import type { Logger } from 'pino';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  changedIds,
  currentFingerprint,
  disappearedRequired,
  type Fingerprint,
  formatBaseline,
  parseBaseline,
  parseSourcesSummary,
  RELOADED_ANNOTATION,
  ROLLOUT_ANNOTATION,
  type SourceId,
  type SourceState,
  type Stamp,
  type Subject,
  type ValueHasher,
  type Verdict,
  verify,
} from '../checksum/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { NoticePublisher } from '../notify/notifier.ts';
import type { ApprovalChange } from '../policy/approval.ts';
import type { NamespaceScope } from '../scope/namespace-scope.ts';
import type { SourceReader } from '../sources/reader.ts';
import type { SourceStore } from '../sources/store.ts';
import type { Metrics, ReconcileResult } from '../telemetry/metrics.ts';
import type { TokenBucket } from '../time/token-bucket.ts';
import type { CronJobRunner } from '../workloads/cronjob-runner.ts';
import type { WorkloadPatcher } from '../workloads/patcher.ts';
import { stateAtCreation } from './adoption.ts';
import type { Gatekeeper } from './gatekeeper.ts';
import { ReloadMarks } from './reload-marks.ts';
import type { ReloadTracker } from './reload-tracker.ts';
import { type Rollout, RolloutAudit } from './rollout-audit.ts';
import type { RolloutFollower } from './rollout-follower.ts';
import { RolloutPacing } from './rollout-pacing.ts';
import { runNowAfterRollout } from './run-now.ts';
import { SourceReports } from './source-reports.ts';
import { StampOrigins } from './stamp-origins.ts';
import type { WorkloadRecord, WorkloadStore } from './workload-store.ts';

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

/** An adoption looks again this soon for the stores to hold a source that exists (its arrival queues it anyway). */
const STORES_BEHIND_RETRY_MS = 1000;

export class Reconciler {
  readonly #options: ReconcilerOptions;
  readonly #now: () => number;
  readonly #pacing: RolloutPacing;
  readonly #audit: RolloutAudit;
  readonly #reports: SourceReports;
  readonly #reloadMarks: ReloadMarks;
  /** What the stamps this replica wrote were computed from: when a rollout needs no live read. */
  readonly #origins = new StampOrigins();
  /** Every part that keeps something of a workload, told when it goes. */
  readonly #forgetting: { forget(key: string): void }[];

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const { events, notices, logger, metrics } = options;
    this.#pacing = new RolloutPacing({
      coalesceWindowMs: options.coalesceWindowMs,
      limiter: options.limiter,
      metrics,
      now: this.#now,
    });
    this.#audit = new RolloutAudit({ events, notices, logger, metrics, now: this.#now });
    this.#reports = new SourceReports({
      workloads: options.workloads,
      events,
      notices,
      missingNoticeGraceMs: options.missingNoticeGraceMs,
      logger,
    });
    this.#reloadMarks = new ReloadMarks({
      hasher: options.hasher,
      sources: options.sources,
      patcher: options.patcher,
      reloads: options.reloads,
    });
    this.#forgetting = [
      this.#pacing,
      this.#audit,
      this.#reports,
      this.#origins,
      ...[options.reloads, options.gatekeeper].filter((part) => part !== undefined),
    ];
  }

  stop(): void {
    this.#reports.stop();
  }

  /** `changedAt`: when the source change that queued this workload was seen, if one did. */
  async reconcile(key: string, changedAt?: number): Promise<Outcome> {
    const record = this.#options.workloads.get(key);
    if (!record) {
      this.forget(key);
      return { result: 'gone' };
    }
    if (this.#audit.confirm(record)) this.#pacing.rolled(record.key);
    if (!this.#tracked(record)) return { result: 'skipped' };
    this.#options.gatekeeper?.review(record);
    if (record.consumedCount > record.sources.length) {
      this.#reports.tooMany(record);
      return { result: 'skipped' };
    }
    const lookAgainMs = await this.#options.follower?.follow(record);
    const outcome = await this.#reconcileRolling(record, changedAt);
    if (record.reload && outcome.result === 'current') await this.#reloadMarks.reconcile(record);
    return lookAgain(outcome, lookAgainMs);
  }

  /** What rolls: the template's stamp against the sources it covers. */
  async #reconcileRolling(record: WorkloadRecord, changedAt: number | undefined): Promise<Outcome> {
    const stored = this.#storedSubject(record);
    const current = currentFingerprint(this.#options.hasher, stored);
    if (!current) return this.#withoutSources(record);
    const reference = this.#reference(record, stored);
    this.#reports.missing(record, current, reference?.stamp);
    if (!reference) return this.#adopt(record, current);
    if (reference.verdict.kind === 'current') return this.#current(record, reference);
    return this.#rollout(record, reference, stored, changedAt);
  }

  /** What changed between two stamps: per source, the short digests, and the consumed keys whose values changed when the stores know them. */
  #changes(record: WorkloadRecord, before: string, after: string, changed: readonly SourceId[]): ApprovalChange[] {
    const was = parseSourcesSummary(before);
    const now = parseSourcesSummary(after);
    return changed.map((id) => {
      const keys = this.#options.sources.changedKeys(
        record.namespace,
        id,
        record.sources.find((s) => s.id === id)?.keys,
      );
      return { source: id, from: was.get(id), to: now.get(id), ...(keys ? { keys } : {}) };
    });
  }

  /** Drops what is remembered of a workload that no longer exists. */
  forget(key: string): void {
    for (const part of this.#forgetting) part.forget(key);
  }

  #tracked(record: WorkloadRecord): boolean {
    return this.#options.scope.tracks(record.namespace, record.reloader) && !record.ignored;
  }

  #storedSubject(record: WorkloadRecord): Subject {
    const { sources } = this.#options;
    return {
      namespace: record.namespace,
      sources: record.sources,
      stateOf: (id) => sources.state(record.namespace, id),
    };
  }

  /** The template's stamp, else the baseline: the first of them that can be verified. */
  #reference(record: WorkloadRecord, subject: Subject): Reference | undefined {
    const { hasher, logger } = this.#options;
    const candidates: [Reference['from'], Stamp | undefined][] = [
      [
        'template',
        record.stamped.checksum === undefined
          ? undefined
          : { checksum: record.stamped.checksum, sources: record.stamped.sources ?? '' },
      ],
      ['baseline', parseBaseline(record.baseline)],
    ];
    for (const [from, stamp] of candidates) {
      if (!stamp) continue;
      const verdict = verify(hasher, stamp, subject);
      if (verdict.kind !== 'unverifiable') return { stamp, from, verdict };
      logger.info(
        { workload: record.key, from, reason: verdict.reason },
        'cannot verify the stamp; adopting the workload anew',
      );
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
    await this.#options.patcher.patch(record, {
      metadata: { annotations: { [BASELINE_ANNOTATION]: formatBaseline(created.stamp) } },
    });
    const changed = changedIds(created.stamp.sources, current.stamp.sources);
    if (changed.length === 0)
      this.#options.logger.info(
        { workload: record.key, sources: current.stamp.sources },
        'adopted workload; it rolls on its next configuration change',
      );
    else
      this.#options.logger.info(
        { workload: record.key, changed },
        'adopted workload; its configuration changed after it was created, so it rolls once',
      );
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
      const then = stateAtCreation(
        { ...record.creation, latestResourceVersion: record.resourceVersion },
        history,
        installedAt,
      );
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
    const wait = this.#pacing.take(record.key);
    if (wait) return { result: 'deferred', retryAfterMs: wait.waitMs };
    const outcome = await this.#rollWithToken(record, reference, stored, changedAt).catch((error: unknown) => {
      this.#pacing.giveBack();
      throw error;
    });
    if (outcome.result !== 'rolled') this.#pacing.giveBack();
    return outcome;
  }

  async #rollWithToken(
    record: WorkloadRecord,
    reference: Reference,
    stored: Subject,
    changedAt: number | undefined,
  ): Promise<Outcome> {
    const next = await this.#toRoll(record, reference, stored);
    if (!next) return { result: 'current' };
    const gone = disappearedRequired(reference.stamp, next.current, record.sources);
    if (gone.length > 0) return this.#holdForMissing(record, gone);
    const { checksum = '', sources } = next.current.stamp;
    const changes = this.#changes(record, reference.stamp.sources, sources, next.changed);
    const held = await this.#options.gatekeeper?.hold(record, { checksum, from: reference.stamp.checksum, changes });
    if (held) return { result: 'deferred', lookAgainAfterMs: held.retryAfterMs };

    const rollout: Rollout = {
      checksum,
      from: reference.stamp.checksum,
      startedAt: new Date(this.#now()).toISOString(),
      sources,
      changes,
      changedAt,
    };
    this.#audit.patching(record.key, rollout);
    // New pods start with the reloaded sources as they are: the rollout delivers those too.
    const reloaded = this.#reloadMarks.stamp(record);
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
    this.#origins.record(record.key, { checksum, generation }, record.sources, next.subject.stateOf);
    // A reload under way is superseded: the new pods start with the new configuration.
    this.#options.reloads?.forget(record.key);
    this.#pacing.rolled(record.key);
    this.#audit.patched(record, rollout);
    await runNowAfterRollout(this.#options, record, checksum);
    return { result: 'rolled' };
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
    if (
      reference.from !== 'template' ||
      reference.verdict.kind !== 'changed' ||
      !this.#origins.storesCaughtUp(record, stored.stateOf)
    )
      return undefined;
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
    const subject: Subject = {
      namespace: record.namespace,
      sources: record.sources,
      stateOf: (id) => states.get(id) ?? { exists: false },
    };
    const verdict = verify(hasher, reference.stamp, subject);
    const current = currentFingerprint(hasher, subject);
    if (verdict.kind === 'current' || !current) {
      logger.debug({ workload: record.key }, 'the live configuration matches the stamp; the stores are catching up');
      return undefined;
    }
    return {
      current,
      changed:
        verdict.kind === 'changed' ? verdict.changed : changedIds(reference.stamp.sources, current.stamp.sources),
      subject,
    };
  }

  #holdForMissing(record: WorkloadRecord, gone: readonly SourceId[]): Outcome {
    this.#options.metrics.rolloutsSuppressed.inc({ reason: 'missing_source' });
    this.#options.logger.warn(
      { workload: record.key, sources: gone },
      'not rolling: a required source was deleted, and new pods could not start',
    );
    return { result: 'missing-source' };
  }
}

/** A reconcile's outcome, looked at again no later than `afterMs` (a rollout's deadline) when one is given. */
function lookAgain(outcome: Outcome, afterMs: number | undefined): Outcome {
  if (afterMs === undefined) return outcome;
  return { ...outcome, lookAgainAfterMs: Math.min(outcome.lookAgainAfterMs ?? afterMs, afterMs) };
}
