// Waiting that a shutdown can cut short.

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** `ms` spread by ±`fraction`, so that many clients do not retry in step. */
export function jitter(ms: number, fraction: number): number {
  return ms * (1 - fraction + Math.random() * 2 * fraction);
}
