// Watches as a benchmark's stopwatch: the moment each change of an object arrives
// on a watch, by the same clock (performance.now()) as the requests that caused it.
import { Watch } from '@kubernetes/client-node';
import { loadKubeConfig } from '../src/kube/client.ts';

export interface Arrival<T> {
  object: T;
  at: number;
}

/** Every ADDED or MODIFIED object of a collection, with when it arrived, for as long as it runs. */
export class ArrivalLog<T> {
  readonly arrivals: Arrival<T>[] = [];
  readonly #waiters = new Set<() => void>();
  #abort: AbortController | undefined;

  /** Starts watching `path` (e.g. /apis/apps/v1/namespaces/x/deployments) from now. */
  async start(path: string): Promise<void> {
    this.#abort = await new Watch(loadKubeConfig()).watch(
      path,
      { allowWatchBookmarks: false },
      (phase, object: T) => {
        if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
        this.arrivals.push({ object, at: performance.now() });
        for (const wake of this.#waiters) wake();
      },
      () => undefined,
    );
  }

  /** The first arrival after index `from` that satisfies `match`, waiting up to `timeoutMs`. */
  async next(from: number, match: (object: T) => boolean, timeoutMs: number): Promise<Arrival<T> & { index: number }> {
    const deadline = performance.now() + timeoutMs;
    for (let index = from; ; index++) {
      while (index >= this.arrivals.length) {
        const left = deadline - performance.now();
        if (left <= 0) throw new Error(`no matching watch event within ${timeoutMs / 1000}s`);
        await this.#arrival(left);
      }
      const arrival = this.arrivals[index];
      if (arrival && match(arrival.object)) return { ...arrival, index };
    }
  }

  stop(): void {
    this.#abort?.abort();
  }

  #arrival(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#waiters.add(wake);
    });
  }
}
