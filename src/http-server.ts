// What the webhook and observability servers share: the port a server listens
// on, and a shutdown that does not wait on clients' idle keep-alive connections.

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export function listeningPort(address: string | { port: number } | null): number {
  if (address === null || typeof address === 'string') throw new Error('server is not listening on a TCP port');
  return address.port;
}

/**
 * Stops accepting, lets requests in flight finish for `graceMs`, then closes every
 * connection: a client's idle keep-alive connections (the apiserver keeps them for
 * 90 s) must not hold up a shutdown.
 */
export async function closeWithin(
  server: { close(): Promise<undefined>; server: { closeAllConnections(): void } },
  graceMs: number,
): Promise<void> {
  const force = setTimeout(() => {
    server.server.closeAllConnections();
  }, graceMs);
  try {
    await server.close();
  } finally {
    clearTimeout(force);
  }
}
