// The audit record of every rollout the reconciler causes: the rollout metrics, a
// log line, a ConfigChanged Event and its notice, written even when the patch's
// answer is lost (a timeout after the API server applied it): the intent is kept
// until the workload is seen carrying it.
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.ts';
import type { NoticePublisher } from '../notify/notifier.ts';
import type { ApprovalChange } from '../policy/approval.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import { rolloutStarted } from './notices.ts';
import { type WorkloadRecord, workloadEventTarget } from './workload-store.ts';

/** A rollout patched (or being patched), and what its audit record says. */
export interface Rollout {
  checksum: string;
  from: string | undefined;
  /** As written to confighash.dev/rollout. */
  startedAt: string;
  sources: string;
  changes: ApprovalChange[];
  /** When the source change that caused it was seen, if one did. */
  changedAt: number | undefined;
}

export interface RolloutAuditOptions {
  events: Pick<EventRecorder, 'record'>;
  notices?: NoticePublisher | undefined;
  logger: Logger;
  metrics: Pick<Metrics, 'rollouts' | 'rolloutLatency'>;
  now: () => number;
}

export class RolloutAudit {
  readonly #options: RolloutAuditOptions;
  /** Per workload, a rollout whose patch has not been answered (its answer may be lost). */
  readonly #unconfirmed = new Map<string, Rollout>();

  constructor(options: RolloutAuditOptions) {
    this.#options = options;
  }

  /** Before the patch: the rollout is kept until its patch is answered, or the workload is seen carrying it. */
  patching(key: string, rollout: Rollout): void {
    this.#unconfirmed.set(key, rollout);
  }

  /** The patch was answered: the audit record is written. */
  patched(record: WorkloadRecord, rollout: Rollout): void {
    this.#unconfirmed.delete(record.key);
    this.#write(record, rollout);
  }

  /**
   * A rollout whose patch failed without an answer (a timeout) may have been
   * applied: if the workload records this very rollout (its checksum and start
   * time, which no other writer can have written), it was, and its audit record
   * is written now (true). Otherwise it is dropped (a webhook or another replica
   * may have stamped the same checksum); a retry that patches keeps a new one.
   */
  confirm(record: WorkloadRecord): boolean {
    const rollout = this.#unconfirmed.get(record.key);
    if (!rollout) return false;
    this.#unconfirmed.delete(record.key);
    const recorded = record.rollout;
    if (recorded?.checksum !== rollout.checksum || recorded.startedAt.toISOString() !== rollout.startedAt) return false;
    this.#write(record, rollout, 'the patch was applied, though its answer was lost');
    return true;
  }

  forget(key: string): void {
    this.#unconfirmed.delete(key);
  }

  #write(record: WorkloadRecord, rollout: Rollout, note?: string): void {
    const { events, logger, metrics, notices, now } = this.#options;
    metrics.rollouts.inc();
    if (rollout.changedAt !== undefined) metrics.rolloutLatency.observe((now() - rollout.changedAt) / 1000);
    const { checksum, from, startedAt, sources, changes } = rollout;
    const changed = describeChangeList(changes);
    logger.info(
      { workload: record.key, changed, checksum, sources, ...(note ? { note } : {}) },
      'rolling out workload: its configuration changed',
    );
    events.record(
      workloadEventTarget(record),
      'Normal',
      'ConfigChanged',
      `Rolling out: configuration changed: ${changed.join(', ')}`,
    );
    notices?.publish(rolloutStarted(record, { checksum, from, startedAt, changes, trigger: 'configuration-change' }));
  }
}

/** `configmap/app (1f3a9c0e2b7d → 5e0c2f7a1b3d: keys LOG_LEVEL, timeout.conf)`, key names only, never values. */
function describeChangeList(changes: readonly ApprovalChange[]): string[] {
  // The summaries list only their first sources when there are very many (see sourcesSummary).
  if (changes.length === 0) return ['sources the sources annotation does not list'];
  return changes.map(
    ({ source, from, to, keys }) =>
      `${source} (${from ?? 'untracked'} → ${to ?? 'untracked'}${keys && keys.length > 0 ? `: keys ${keys.join(', ')}` : ''})`,
  );
}
