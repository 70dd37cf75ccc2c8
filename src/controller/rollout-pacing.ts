// How fast config rollouts may follow each other: no workload rolls twice within
// the coalescing window, and none rolls without a token of the cluster-wide rate
// limit. A rollout takes its token before anything is read for it, so a workload
// waiting costs no reads; the token goes back when nothing rolls.
import type { Metrics } from '../telemetry/metrics.ts';
import type { TokenBucket } from '../time/token-bucket.ts';

export interface RolloutPacingOptions {
  /** No workload rolls twice within this window. */
  coalesceWindowMs: number;
  limiter: Pick<TokenBucket, 'take' | 'giveBack'>;
  metrics: Pick<Metrics, 'rolloutsSuppressed'>;
  now: () => number;
}

/** Why a rollout waits, and for how long. */
export interface Wait {
  reason: 'coalescing' | 'rate_limit';
  waitMs: number;
}

export class RolloutPacing {
  readonly #options: RolloutPacingOptions;
  /** Per workload, when its last rollout was recorded. */
  readonly #lastRollout = new Map<string, number>();

  constructor(options: RolloutPacingOptions) {
    this.#options = options;
  }

  /** Takes a token for the workload's rollout (undefined), or says how long it must wait. */
  take(key: string): Wait | undefined {
    const wait = this.#coalescing(key) ?? this.#rateLimited();
    if (wait) this.#options.metrics.rolloutsSuppressed.inc({ reason: wait.reason });
    return wait;
  }

  /** The token taken is not used: nothing rolled. */
  giveBack(): void {
    this.#options.limiter.giveBack();
  }

  /** The workload rolled now: its coalescing window starts. */
  rolled(key: string): void {
    this.#lastRollout.set(key, this.#options.now());
  }

  forget(key: string): void {
    this.#lastRollout.delete(key);
  }

  #coalescing(key: string): Wait | undefined {
    const last = this.#lastRollout.get(key);
    const waitMs = last === undefined ? 0 : last + this.#options.coalesceWindowMs - this.#options.now();
    return waitMs > 0 ? { reason: 'coalescing', waitMs } : undefined;
  }

  #rateLimited(): Wait | undefined {
    const waitMs = this.#options.limiter.take();
    return waitMs > 0 ? { reason: 'rate_limit', waitMs } : undefined;
  }
}
