// Polling with a deadline for unit tests of asynchronous loops (no sleeps as synchronisation).

/** Resolves once `condition` holds (a throw counts as not yet); fails after 10 s saying what it waited for. */
export async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last: unknown;
  for (;;) {
    try {
      if (await condition()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
