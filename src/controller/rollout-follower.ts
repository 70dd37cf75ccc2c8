// Follows each config rollout confighash started to its end, level-based: the
// workload's confighash.dev/rollout says which rollout and since when, its status
// says how far it got. Complete: a Normal Event RolloutComplete with its
// duration. Failed (a Deployment past its progressDeadlineSeconds; a StatefulSet
// or DaemonSet not complete within --rollout-progress-deadline): a Warning Event
// RolloutFailed. The outcome is written to confighash.dev/rollout-result before
// the Event, with the version it was judged on, so a leader hand-over never tells
// it twice (at worst, a leader that dies between the two leaves it untold).
import { ROLLOUT_ANNOTATION } from '../checksum/index.ts';
import { shortChecksum } from '../notify/notice.ts';
import { rolloutEnded } from './notices.ts';
import type { DecisionRecording } from './recording.ts';
import { type WorkloadRecord, workloadEventTarget } from './workload-store.ts';

export interface RolloutFollowerOptions extends DecisionRecording {
  /** StatefulSets and DaemonSets have no progress deadline of their own: this is theirs. */
  progressDeadlineMs: number;
}

type Ending = { result: 'complete' } | { result: 'failed'; reason: string };

export class RolloutFollower {
  readonly #options: RolloutFollowerOptions;
  readonly #now: () => number;

  constructor(options: RolloutFollowerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Records the end of the workload's rollout if it ended; returns when to look again for a deadline, if there is one. */
  async follow(record: WorkloadRecord): Promise<number | undefined> {
    const { rollout } = record;
    // Nothing to follow: none started, one already told, one the template has moved on from, or a
    // CronJob's (nothing rolls: its next Job runs the new template).
    if (
      !rollout ||
      record.kind === 'CronJob' ||
      record.rolloutResult !== undefined ||
      record.stamped.checksum !== rollout.checksum
    )
      return undefined;
    const now = this.#now();
    const ending = this.#ending(record, now);
    if (!ending)
      return hasOwnDeadline(record)
        ? undefined
        : Math.max(1000, rollout.startedAt.getTime() + this.#options.progressDeadlineMs - now);
    await this.#record(record, ending, now);
    return undefined;
  }

  #ending(record: WorkloadRecord, now: number): Ending | undefined {
    const { progress } = record;
    if (progress.state === 'complete') return { result: 'complete' };
    if (progress.state === 'failed') return { result: 'failed', reason: progress.reason };
    const deadline = this.#options.progressDeadlineMs;
    if (!hasOwnDeadline(record) && now - (record.rollout?.startedAt.getTime() ?? now) > deadline) {
      return {
        result: 'failed',
        reason: `not complete within ${Math.round(deadline / 1000)}s (${progress.updated}/${progress.desired} updated; --rollout-progress-deadline)`,
      };
    }
    return undefined;
  }

  async #record(record: WorkloadRecord, ending: Ending, now: number): Promise<void> {
    const { patcher, events, notices, logger, metrics } = this.#options;
    const rollout = record.rollout;
    if (!rollout) return;
    const at = new Date(now).toISOString();
    const value = ending.result === 'complete' ? `complete ${at}` : `failed ${at} ${ending.reason}`;
    // Guarded by the version judged: a conflict means another look (by this replica or the next leader).
    await patcher.patch(record, { metadata: { annotations: { [ROLLOUT_ANNOTATION.result]: value } } });
    const seconds = Math.max(0, Math.round((now - rollout.startedAt.getTime()) / 1000));
    const short = shortChecksum(rollout.checksum);
    metrics.rolloutResults.inc({ result: ending.result });
    notices?.publish(
      rolloutEnded(record, rollout, { seconds, ...(ending.result === 'failed' ? { failure: ending.reason } : {}) }),
    );
    if (ending.result === 'complete') {
      metrics.rolloutDuration.observe(seconds);
      logger.info({ workload: record.key, checksum: rollout.checksum, seconds }, 'config rollout complete');
      events.record(
        workloadEventTarget(record),
        'Normal',
        'RolloutComplete',
        `Rolled out configuration ${short} in ${seconds}s`,
      );
      return;
    }
    logger.warn(
      { workload: record.key, checksum: rollout.checksum, seconds, reason: ending.reason },
      'config rollout failed',
    );
    events.record(
      workloadEventTarget(record),
      'Warning',
      'RolloutFailed',
      `The rollout of configuration ${short} failed after ${seconds}s: ${ending.reason}`,
    );
  }
}

/** A Deployment (progressDeadlineSeconds) and an Argo Rollout (the same, and Degraded) say when they failed. */
function hasOwnDeadline(record: WorkloadRecord): boolean {
  return record.kind === 'Deployment' || record.kind === 'Rollout';
}
