// A queue of workload keys to reconcile, in the manner of client-go's workqueue:
// a key is queued at most once, a key being processed is not handed out again
// until it is done (if re-added meanwhile, it is queued again after), and a key
// can be added with a delay. Adding a key that is already waiting keeps the
// earlier due time: that is what coalesces a burst of changes into one reconcile.

export class WorkQueue {
  /** key → due time (ms since epoch) */
  readonly #waiting = new Map<string, number>();
  readonly #processing = new Set<string>();
  /** Keys re-added while processing, with their due time. */
  readonly #dirty = new Map<string, number>();
  readonly #now: () => number;
  /** Workers waiting in next(): woken by any add or close, or by their own timer. */
  readonly #sleepers = new Set<() => void>();
  #closed = false;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Waiting and in-process keys. */
  get depth(): number {
    return this.#waiting.size + this.#processing.size;
  }

  add(key: string, delayMs = 0): void {
    const due = this.#now() + delayMs;
    if (this.#processing.has(key)) {
      this.#dirty.set(key, Math.min(this.#dirty.get(key) ?? due, due));
      return;
    }
    const existing = this.#waiting.get(key);
    if (existing !== undefined && existing <= due) return;
    this.#waiting.set(key, due);
    this.#signal();
  }

  /** Resolves with the next due key (marking it in process), or undefined once closed. */
  async next(): Promise<string | undefined> {
    for (;;) {
      if (this.#closed) return undefined;
      const now = this.#now();
      let soonest: [string, number] | undefined;
      for (const entry of this.#waiting) if (!soonest || entry[1] < soonest[1]) soonest = entry;
      if (soonest && soonest[1] <= now) {
        this.#waiting.delete(soonest[0]);
        this.#processing.add(soonest[0]);
        return soonest[0];
      }
      await this.#sleep(soonest ? soonest[1] - now : undefined);
    }
  }

  /** Marks `key` processed; if it was re-added meanwhile, it waits again. */
  done(key: string): void {
    this.#processing.delete(key);
    const due = this.#dirty.get(key);
    if (due === undefined) return;
    this.#dirty.delete(key);
    this.add(key, Math.max(0, due - this.#now()));
  }

  close(): void {
    this.#closed = true;
    this.#signal();
  }

  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(wake, ms);
      const sleepers = this.#sleepers;
      function wake(): void {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      }
      sleepers.add(wake);
    });
  }

  #signal(): void {
    for (const wake of [...this.#sleepers]) wake();
  }
}
