// When a configuration rollout may start (pure): the rollout policies of a
// workload, read from its annotations (and its namespace's, as defaults), judged
// at `now` against its last config rollout and its current rollout's progress.
// Only confighash's own rollouts are gated: a user's own change of the workload
// is stamped at admission as ever.
import { parseDuration } from '../time/duration.ts';
import type { Progress } from './progress.ts';
import { describeLocal, parseSchedule, type WindowSchedule, windowState } from './window.ts';

export const POLICY_ANNOTATION = {
  /** Workload or namespace: `Sat,Sun 02:00-05:00; Mon-Fri 22:00-23:30`. */
  window: 'confighash.dev/rollout-window',
  /** Workload or namespace: the windows' IANA time zone (default UTC). */
  timeZone: 'confighash.dev/rollout-timezone',
  /** Workload or namespace: at most one config rollout per this long, e.g. `10m`. */
  minInterval: 'confighash.dev/min-interval',
  /** Workload: `"false"` lets a config rollout start while the previous rollout is under way. */
  waitForRollout: 'confighash.dev/wait-for-rollout',
} as const;

export interface RolloutPolicy {
  schedule?: WindowSchedule;
  minIntervalMs?: number;
  waitForRollout: boolean;
  /** What was written wrong (and is then treated as absent): never silently frozen. */
  problems: string[];
}

export type GateReason = 'window' | 'min_interval' | 'previous_rollout';

export type Gate = { open: true } | { open: false; reason: GateReason; detail: string; retryAt: Date };

/** The longest min-interval: pacing is for hours and days; beyond a month it is a freeze, which a window says better. */
export const MAX_MIN_INTERVAL_MS = 30 * 24 * 3_600_000;
const MAX_DURATION_LENGTH = 32;

/** How soon a rollout held for the previous one is looked at again (its status changes wake it sooner). */
const PROGRESS_RECHECK_MS = 30_000;

/** The policy of a workload: its own annotations, else its namespace's; `waitForRollout` unless it says otherwise. */
export function rolloutPolicy(
  workload: Readonly<Record<string, string>>,
  namespace: Readonly<Record<string, string>>,
  waitForRollout = true,
): RolloutPolicy {
  const read = (key: string): string | undefined => workload[key] ?? namespace[key];
  const problems: string[] = [];
  const wait = workload[POLICY_ANNOTATION.waitForRollout];
  const policy: RolloutPolicy = { waitForRollout: wait === undefined ? waitForRollout : wait !== 'false', problems };
  const windowText = read(POLICY_ANNOTATION.window);
  if (windowText !== undefined) {
    const parsed = parseSchedule(windowText, read(POLICY_ANNOTATION.timeZone) ?? 'UTC');
    if ('error' in parsed) problems.push(`${POLICY_ANNOTATION.window}: ${parsed.error}`);
    else policy.schedule = parsed;
  }
  const interval = read(POLICY_ANNOTATION.minInterval);
  if (interval !== undefined) {
    const parsed = minInterval(interval);
    if (typeof parsed === 'string') problems.push(`${POLICY_ANNOTATION.minInterval}: ${parsed}`);
    else policy.minIntervalMs = parsed;
  }
  return policy;
}

/** Whether a config rollout may start now; if not, why, and when to look again. */
export function gate(
  policy: RolloutPolicy,
  facts: { now: Date; lastRolledAt: Date | undefined; progress: Progress },
): Gate {
  const { now, lastRolledAt, progress } = facts;
  if (policy.schedule) {
    const state = windowState(policy.schedule, now);
    if (!state.open)
      return {
        open: false,
        reason: 'window',
        detail: `window opens ${describeLocal(state.opensAt, policy.schedule.timeZone)}`,
        retryAt: state.opensAt,
      };
  }
  if (policy.minIntervalMs && lastRolledAt) {
    const next = new Date(lastRolledAt.getTime() + policy.minIntervalMs);
    if (next > now)
      return {
        open: false,
        reason: 'min_interval',
        detail: `at most one rollout per ${formatInterval(policy.minIntervalMs)}; next at ${next.toISOString()}`,
        retryAt: next,
      };
  }
  // A failed rollout does not hold the next: the new configuration may be what mends it.
  if (policy.waitForRollout && progress.state === 'progressing') {
    return {
      open: false,
      reason: 'previous_rollout',
      detail: `waiting for the previous rollout (${progress.updated}/${progress.desired} updated)`,
      retryAt: new Date(now.getTime() + PROGRESS_RECHECK_MS),
    };
  }
  return { open: true };
}

/** The interval in ms, or what is wrong with it: a huge number is refused, never read as Infinity (which turned pacing off). */
function minInterval(text: string): number | string {
  if (text.length > MAX_DURATION_LENGTH) return `${text.length} characters; a duration is short, e.g. 10m or 1h30m`;
  try {
    const ms = parseDuration(text);
    return ms <= MAX_MIN_INTERVAL_MS ? ms : `"${text}" is longer than the maximum, 720h`;
  } catch (error) {
    return (error as Error).message;
  }
}

function formatInterval(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
