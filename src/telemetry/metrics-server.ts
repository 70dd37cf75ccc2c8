// The plain-HTTP observability endpoints on --metrics-port: /metrics (Prometheus),
// /healthz (the process answers) and /readyz (every readiness check passes). The
// /readyz body lists each check (`[+]name ok`, `[-]name: problem`), and after
// them the informational ones (`[i]`), which never make it fail.
import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  applyConnectionLimits,
  closeWithin,
  type ConnectionLimits,
  countRequests,
  listeningPort,
  NO_SCHEMAS,
  type RunningServer,
} from '../http/server.ts';

/** A named check: undefined when fine, else what is wrong. */
export type ReadinessCheck = () => string | undefined;

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: Record<string, ReadinessCheck>;
  /** Reported by /readyz, never failing it (e.g. the controller's watches). */
  information?: Record<string, ReadinessCheck>;
  /** The resourceVersion at which the controller last saw a workload, for /debug/observed/KIND/NS/NAME. */
  observedVersion?: (key: string) => string | undefined;
  logger: Logger;
}

const OBSERVABILITY_LIMITS: ConnectionLimits = {
  maxConnections: 128,
  maxConnectionsPerClient: 32,
  handshakeTimeoutMs: 0,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 30_000,
};

export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningServer> {
  const server = Fastify({
    loggerInstance: options.logger.child({ component: 'metrics-server' }),
    logController: new LogController({ disableRequestLogging: true }),
    schemaController: NO_SCHEMAS,
  });
  // Bounded like the webhook's, so a flood of this port cannot exhaust the process either.
  applyConnectionLimits(server.server, OBSERVABILITY_LIMITS);
  const inFlight = countRequests(server.server);
  server.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  server.get('/healthz', () => 'ok\n');
  // What the controller has seen of one workload: lets tools (and tests) tell "nothing to do" from "not seen yet".
  server.get<{ Params: { kind: string; namespace: string; name: string } }>(
    '/debug/observed/:kind/:namespace/:name',
    (request, reply) => {
      const { kind, namespace, name } = request.params;
      const version = options.observedVersion?.(`${kind}/${namespace}/${name}`);
      if (version === undefined)
        return reply.code(404).type('text/plain').send(`not observed: ${kind}/${namespace}/${name}\n`);
      return reply.type('text/plain').send(`${version}\n`);
    },
  );
  server.get('/readyz', (_request, reply) => {
    const checks = Object.entries(options.readiness).map(([name, check]) => [name, check()] as const);
    const ready = checks.every(([, problem]) => problem === undefined);
    const lines = checks.map(([name, problem]) => (problem === undefined ? `[+]${name} ok` : `[-]${name}: ${problem}`));
    for (const [name, check] of Object.entries(options.information ?? {})) lines.push(`[i]${name}: ${check() ?? 'ok'}`);
    const verdict = ready ? 'ok' : 'not ready';
    return reply
      .code(ready ? 200 : 503)
      .type('text/plain')
      .send(`${lines.join('\n')}\n${verdict}\n`);
  });
  await server.listen({ host: options.host, port: options.port });
  return { port: listeningPort(server.server.address()), close: () => closeWithin(server, 1000, inFlight) };
}
