// Notices that are news only if they are still true a little later. A missing
// source is the case: `helm uninstall`, `kubectl delete -f` and a namespace's
// deletion remove a workload's sources and the workload itself within seconds,
// in any order, and none of that should page anyone. Such a notice waits a
// grace period and is published only if what it says still holds then.
import type { NoticePublisher } from '../notify/notifier.ts';
import type { Notice } from '../notify/notice.ts';

export class HeldNotices {
  readonly #publisher: NoticePublisher;
  readonly #graceMs: number;
  /** Per workload key: its notices waiting. */
  readonly #waiting = new Map<string, Set<NodeJS.Timeout>>();

  constructor(publisher: NoticePublisher, graceMs: number) {
    this.#publisher = publisher;
    this.#graceMs = graceMs;
  }

  /** Publishes `notice` after the grace period if `stillTrue()` then. */
  hold(key: string, notice: Notice, stillTrue: () => boolean): void {
    const waiting = this.#waiting.get(key) ?? new Set<NodeJS.Timeout>();
    const timer = setTimeout(() => {
      waiting.delete(timer);
      if (waiting.size === 0) this.#waiting.delete(key);
      if (stillTrue()) this.#publisher.publish(notice);
    }, this.#graceMs);
    // Nothing to tell keeps a stopping process alive.
    timer.unref();
    waiting.add(timer);
    this.#waiting.set(key, waiting);
  }

  /** Drops the workload's waiting notices (it was deleted). */
  cancel(key: string): void {
    for (const timer of this.#waiting.get(key) ?? []) clearTimeout(timer);
    this.#waiting.delete(key);
  }

  stop(): void {
    for (const key of [...this.#waiting.keys()]) this.cancel(key);
  }
}
