// Waiting that a shutdown can cut short.

/**
 * Resolves after `ms`, or as soon as `signal` aborts. The abort listener is
 * removed when the timer fires: a loop that sleeps on one long-lived signal
 * (the leader's renewal, every 2 s for the life of the process) must not pile
 * up a listener, and the closure it holds, per sleep.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `ms` spread by ±`fraction`, so that many clients do not retry in step. */
export function jitter(ms: number, fraction: number): number {
  return ms * (1 - fraction + Math.random() * 2 * fraction);
}
