// The work queue with the controller's retry policy, in the manner of client-go's
// rate-limited queue: a failed key comes back after an exponential backoff per
// key (`addRateLimited`, `numRequeues`) until it succeeds (`forget`), and a key can
// ask to be looked at again later (`lookAgainAfter`: a hold that may end, a
// deadline that passes) without that look being lost to an earlier add.
import { WorkQueue } from './work-queue.ts';

/** Why a key is retried: an error backs off from 100 ms; a conflict from 10 ms. */
export type Failure = 'error' | 'conflict';

const INITIAL_RETRY_MS: Record<Failure, number> = {
  error: 100,
  // A conflict usually means kube-controller-manager wrote the workload's status a
  // moment earlier; the watch brings the new version within milliseconds, so the
  // first retries come quickly (a 100 ms wait showed as the reaction time's tail).
  conflict: 10,
};
const MAX_RETRY_MS = 60_000;
/** The longest look-again timer: a longer one would overflow, and a look recomputes when to look next. */
const MAX_LOOK_AGAIN_MS = 86_400_000;

export class RateLimitedQueue {
  readonly #queue: WorkQueue;
  readonly #failures = new Map<string, number>();
  /** Per key, the timer that queues it again (one per key: a later look replaces an earlier one). */
  readonly #looks = new Map<string, NodeJS.Timeout>();
  readonly #onDepth: (depth: number) => void;

  /** `onDepth` hears the depth after every change of it (the queue-depth gauge). */
  constructor(onDepth: (depth: number) => void = () => undefined, now: () => number = Date.now) {
    this.#queue = new WorkQueue(now);
    this.#onDepth = onDepth;
  }

  /** Waiting and in-process keys. */
  get depth(): number {
    return this.#queue.depth;
  }

  /** Queues `key` after `delayMs`; an earlier due time already waiting is kept (coalescing). */
  add(key: string, delayMs = 0): void {
    this.#queue.add(key, delayMs);
    this.#onDepth(this.#queue.depth);
  }

  /** Queues `key` again after its backoff, which doubles with each failure; returns that backoff. */
  addRateLimited(key: string, failure: Failure): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    const backoffMs = Math.min(INITIAL_RETRY_MS[failure] * 2 ** (failures - 1), MAX_RETRY_MS);
    this.add(key, backoffMs);
    return backoffMs;
  }

  /** How many times `key` failed since it last succeeded. */
  numRequeues(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** `key` succeeded, or is given up: its next failure backs off from the start. */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  /** Queues `key` once `ms` have passed, whatever happens to it meanwhile. */
  lookAgainAfter(key: string, ms: number): void {
    clearTimeout(this.#looks.get(key));
    const timer = setTimeout(
      () => {
        this.#looks.delete(key);
        this.add(key);
      },
      Math.min(ms, MAX_LOOK_AGAIN_MS),
    );
    timer.unref();
    this.#looks.set(key, timer);
  }

  /** The next due key (in process until `done`), or undefined once closed. */
  async next(): Promise<string | undefined> {
    const key = await this.#queue.next();
    this.#onDepth(this.#queue.depth);
    return key;
  }

  done(key: string): void {
    this.#queue.done(key);
    this.#onDepth(this.#queue.depth);
  }

  /** Stops handing out keys, and every look-again timer. */
  close(): void {
    for (const timer of this.#looks.values()) clearTimeout(timer);
    this.#looks.clear();
    this.#queue.close();
  }
}
