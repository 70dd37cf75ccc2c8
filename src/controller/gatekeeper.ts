// Holds a config rollout back while its policies say so (src/policy/gate.ts: a
// maintenance window, min-interval, the previous rollout still under way) or the
// approval hook has not allowed it. A held rollout is recorded on the workload
// (confighash.dev/deferred, which `status` shows), with one Normal Event
// RolloutDeferred per target and reason, and counted; the reconcile comes back
// when the hold may end, and rolls once, with everything that changed meanwhile.
import { ROLLOUT_ANNOTATION } from '../checksum/index.ts';
import type { SuppressionReason } from '../telemetry/metrics.ts';
import type { ApprovalChange, ApprovalDecision, Approver } from '../policy/approval.ts';
import { gate, rolloutPolicy } from '../policy/gate.ts';
import type { NamespaceScope } from '../scope/namespace-scope.ts';
import { rolloutDeferred } from './notices.ts';
import type { DecisionRecording } from './recording.ts';
import { type WorkloadRecord, workloadEventTarget } from './workload-store.ts';

export interface GatekeeperOptions extends DecisionRecording {
  scope: Pick<NamespaceScope, 'defaults'>;
  /** Whether a config rollout waits for the previous one, unless the workload says. */
  waitForRollout: boolean;
  approver?: Approver;
}

/** A config rollout about to start: its target checksum, the checksum it replaces, and what changed. */
export interface Candidate {
  checksum: string;
  from: string | undefined;
  changes: ApprovalChange[];
}

/** Held: come back after this long. */
export interface Hold {
  retryAfterMs: number;
}

/** How long a worker waits for the approval hook's answer before it moves on to other work. */
const WORKER_WAIT_MS = 250;
/** How soon a workload whose approval is pending is looked at again. */
const PENDING_RECHECK_MS = 500;

interface Asking {
  checksum: string;
  answer: Promise<ApprovalDecision>;
}

/** Asks the hook about one rollout; the answer is a decision whatever happens (a failure follows the approver's failure policy). */
function ask(approver: Approver, record: WorkloadRecord, candidate: Candidate): Asking {
  const answer = approver
    .review({
      workload: { kind: record.kind, namespace: record.namespace, name: record.name, uid: record.uid },
      checksum: { from: candidate.from, to: candidate.checksum },
      changes: candidate.changes,
    })
    .catch((error: unknown): ApprovalDecision => ({
      allowed: false,
      reason: `the approval hook failed (${(error as Error).message})`,
      retryAfterMs: 60_000,
    }));
  return { checksum: candidate.checksum, answer };
}

/** The answer if it comes within `ms`, else undefined (the question goes on). */
async function answeredWithin(answer: Promise<ApprovalDecision>, ms: number): Promise<ApprovalDecision | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>(
    (resolve) =>
      (timer = setTimeout(() => {
        resolve(undefined);
      }, ms)),
  );
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}

export class Gatekeeper {
  readonly #options: GatekeeperOptions;
  readonly #now: () => number;
  /** Per workload: the problems of its policy already reported. */
  readonly #reported = new Map<string, string>();
  /** Per workload: the annotations refused, already reported. */
  readonly #refused = new Map<string, string>();
  /** Per workload: the question to the hook under way (for one target), and its answer once it came. */
  readonly #asking = new Map<string, Asking>();
  /** Per workload: the hook's last deny, not asked again before retryAt for the same target. */
  readonly #denied = new Map<string, { checksum: string; reason: string; retryAt: number }>();

  constructor(options: GatekeeperOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Tells the workload's owner, once per text, what of its annotations is not
   * read: a malformed rollout policy (treated as absent) and annotations over
   * their limit (refused unread). Called on every reconcile, not only when a
   * rollout is about to start.
   */
  review(record: WorkloadRecord): void {
    this.#reportProblems(
      record,
      rolloutPolicy(record.policy, this.#options.scope.defaults(record.namespace), this.#options.waitForRollout)
        .problems,
    );
    const refused = (record.refused ?? []).join('; ');
    if ((this.#refused.get(record.key) ?? '') === refused) return;
    this.#refused.set(record.key, refused);
    if (!refused) return;
    this.#options.logger.warn({ workload: record.key, refused }, 'annotations refused: over their limit');
    this.#options.events.record(workloadEventTarget(record), 'Warning', 'AnnotationRefused', `Not read: ${refused}`);
  }

  /** Undefined when the rollout may start now; else the hold, recorded. */
  async hold(record: WorkloadRecord, candidate: Candidate): Promise<Hold | undefined> {
    const policy = rolloutPolicy(
      record.policy,
      this.#options.scope.defaults(record.namespace),
      this.#options.waitForRollout,
    );
    this.#reportProblems(record, policy.problems);
    const now = this.#now();
    const held = gate(policy, {
      now: new Date(now),
      lastRolledAt: record.rollout?.startedAt,
      progress: record.progress,
    });
    if (!held.open)
      return this.#defer(record, candidate, {
        reason: held.reason,
        detail: held.detail,
        retryAt: held.retryAt.getTime(),
      });
    const denied = await this.#approval(record, candidate, now);
    if (denied === 'pending') return { retryAfterMs: PENDING_RECHECK_MS };
    return (
      denied && this.#defer(record, candidate, { reason: 'approval', detail: denied.reason, retryAt: denied.retryAt })
    );
  }

  forget(key: string): void {
    this.#reported.delete(key);
    this.#refused.delete(key);
    this.#denied.delete(key);
    this.#asking.delete(key);
  }

  /**
   * The hook's deny (asked at most once per target until its retry time), undefined
   * when it allows or there is none, or 'pending' while its answer takes longer
   * than a worker waits: a slow or hung hook then holds no worker (the question
   * goes on, and the workload is looked at again soon).
   */
  async #approval(
    record: WorkloadRecord,
    candidate: Candidate,
    now: number,
  ): Promise<{ reason: string; retryAt: number } | 'pending' | undefined> {
    const { approver } = this.#options;
    if (!approver) return undefined;
    const last = this.#denied.get(record.key);
    if (last?.checksum === candidate.checksum && last.retryAt > now) return last;
    let asking = this.#asking.get(record.key);
    if (asking?.checksum !== candidate.checksum) {
      asking = ask(approver, record, candidate);
      this.#asking.set(record.key, asking);
    }
    const decision = await answeredWithin(asking.answer, WORKER_WAIT_MS);
    if (!decision) return 'pending';
    this.#asking.delete(record.key);
    if (decision.allowed) {
      this.#denied.delete(record.key);
      return undefined;
    }
    const denied = { checksum: candidate.checksum, reason: decision.reason, retryAt: now + decision.retryAfterMs };
    this.#denied.set(record.key, denied);
    return denied;
  }

  async #defer(
    record: WorkloadRecord,
    candidate: Candidate,
    { reason, detail, retryAt }: { reason: SuppressionReason; detail: string; retryAt: number },
  ): Promise<Hold> {
    const { patcher, events, notices, logger, metrics } = this.#options;
    const { checksum } = candidate;
    metrics.rolloutsSuppressed.inc({ reason });
    const [heldChecksum, heldReason] = (record.deferred ?? '').split(' ');
    // Recorded (and told) once per target and reason; a changing detail (2/5, then 3/5 updated) is not news.
    if (heldChecksum !== checksum || heldReason !== reason) {
      await patcher.patch(record, {
        metadata: { annotations: { [ROLLOUT_ANNOTATION.deferred]: `${checksum} ${reason} ${detail}` } },
      });
      const message = reason === 'approval' ? `Awaiting approval: ${detail}` : `Not rolling out yet: ${detail}`;
      logger.info({ workload: record.key, reason, detail }, 'config rollout held back');
      events.record(workloadEventTarget(record), 'Normal', 'RolloutDeferred', message);
      notices?.publish(
        rolloutDeferred(record, { checksum, from: candidate.from, reason, detail, changes: candidate.changes }),
      );
    }
    return { retryAfterMs: Math.max(1000, retryAt - this.#now()) };
  }

  /** A malformed policy is treated as absent (never silently frozen), and reported once. */
  #reportProblems(record: WorkloadRecord, problems: readonly string[]): void {
    const text = problems.join('; ');
    if ((this.#reported.get(record.key) ?? '') === text) return;
    this.#reported.set(record.key, text);
    if (!text) return;
    this.#options.logger.warn({ workload: record.key, problems: text }, 'rollout policy ignored: it is malformed');
    this.#options.events.record(
      workloadEventTarget(record),
      'Warning',
      'InvalidRolloutPolicy',
      `Ignored, so rollouts are not held back by it: ${text}`,
    );
  }
}
