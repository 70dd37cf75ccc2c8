// What the webhook and observability servers share: the port a server listens
// on, bounds on what clients may hold of it, and a shutdown that does not wait on
// clients' idle keep-alive connections.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Fastify's `schemaController` for servers whose routes declare no schemas:
 * without it, each server loads ajv and fast-json-stringify (about a hundred
 * modules, 3 MiB) to build the default compilers. A route given a schema fails
 * at startup, saying so.
 */
export const NO_SCHEMAS = {
  compilersFactory: {
    buildValidator: noSchemaCompiler,
    buildSerializer: noSchemaCompiler,
  },
};

function noSchemaCompiler(): never {
  throw new Error(
    "this server's routes declare no schemas: give a route a schema only with the compilers that read it",
  );
}

export function listeningPort(address: string | { port: number } | null): number {
  if (address === null || typeof address === 'string') throw new Error('server is not listening on a TCP port');
  return address.port;
}

/** How many requests `server` is answering now; a shutdown closes its connections once none is. */
export function countRequests(server: Pick<Server, 'on'>): () => number {
  let inFlight = 0;
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    inFlight++;
    response.once('close', () => {
      inFlight--;
    });
  });
  return () => inFlight;
}

/** How often a closing server looks whether its last request has been answered. */
const CLOSE_SWEEP_MS = 20;

/**
 * Stops accepting, lets the requests in flight (`inFlight`, see countRequests)
 * finish for at most `graceMs`, then closes every connection. Node closes idle
 * kept-alive connections by itself, but not a TLS connection that never carried
 * a request, which the API server's connection pool keeps (a dial it did not
 * need): a shutdown waited out the whole grace period for those.
 */
export async function closeWithin(
  server: { close(): Promise<undefined>; server: { closeAllConnections(): void } },
  graceMs: number,
  inFlight: () => number,
): Promise<void> {
  const deadline = Date.now() + graceMs;
  const sweep = setInterval(() => {
    if (inFlight() === 0 || Date.now() >= deadline) server.server.closeAllConnections();
  }, CLOSE_SWEEP_MS);
  try {
    await server.close();
  } finally {
    clearInterval(sweep);
  }
}

/**
 * What clients may hold of a server. The API servers and scrapers need few
 * connections, so the bounds are far above real use and far below what exhausts
 * memory or file descriptors; each phase of a connection has its own deadline,
 * so a client that stalls is dropped, not waited on.
 */
export interface ConnectionLimits {
  /** Connections open at once; more are closed on accept. */
  maxConnections: number;
  /**
   * Connections open at once from one address (a pod), handshaking or not: one
   * client holding slow handshakes cannot take every slot from the API server.
   */
  maxConnectionsPerClient: number;
  /** To complete the TLS handshake (HTTPS servers). */
  handshakeTimeoutMs: number;
  /** To send the request's headers. */
  headersTimeoutMs: number;
  /** To send the whole request. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
}

type ServerWithLimits = Pick<
  Server,
  | 'maxConnections'
  | 'headersTimeout'
  | 'requestTimeout'
  | 'keepAliveTimeout'
  | 'on'
  | 'listeners'
  | 'removeAllListeners'
>;

/** Applies `limits` to a listening-to-be Node server (the handshake deadline is an HTTPS option). */
export function applyConnectionLimits(server: ServerWithLimits, limits: ConnectionLimits): void {
  server.maxConnections = limits.maxConnections;
  limitPerClient(server, limits.maxConnectionsPerClient);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // How often Node checks the headers and request deadlines.
  Reflect.set(server, 'connectionsCheckingInterval', Math.min(1000, limits.headersTimeoutMs / 2));
}

/**
 * Closes, on accept, a connection over `max` from its address. The check runs
 * before the server's own connection listeners, so a refused connection costs no
 * TLS or HTTP state: refused after them, a flood of 10,000 left ~50 MiB behind.
 */
function limitPerClient(server: ServerWithLimits, max: number): void {
  const accept = server.listeners('connection');
  server.removeAllListeners('connection');
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
    for (const listener of accept) Reflect.apply(listener, server, [socket]);
  });
}
