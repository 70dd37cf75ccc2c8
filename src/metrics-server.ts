// The plain-HTTP observability endpoints on --metrics-port: /metrics (Prometheus),
// /healthz (the process answers) and /readyz (every readiness check passes).
import Fastify, { LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { closeWithin, listeningPort, type RunningServer } from './http-server.ts';

/** A named check: undefined when fine, else what is wrong. */
export type ReadinessCheck = () => string | undefined;

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  readiness: Record<string, ReadinessCheck>;
  logger: Logger;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<RunningServer> {
  const server = Fastify({
    loggerInstance: options.logger.child({ component: 'metrics-server' }),
    logController: new LogController({ disableRequestLogging: true }),
  });
  server.get('/metrics', async (_request, reply) => {
    const body = await options.registry.metrics();
    return reply.type(options.registry.contentType).send(body);
  });
  server.get('/healthz', () => 'ok\n');
  server.get('/readyz', (_request, reply) => {
    const failures = Object.entries(options.readiness).flatMap(([name, check]) => {
      const problem = check();
      return problem === undefined ? [] : [`${name}: ${problem}`];
    });
    if (failures.length === 0) return reply.type('text/plain').send('ok\n');
    return reply.code(503).type('text/plain').send(`${failures.join('\n')}\n`);
  });
  await server.listen({ host: options.host, port: options.port });
  return { port: listeningPort(server.server.address()), close: () => closeWithin(server, 1000) };
}
