// `confighash agent`: the reload agent, run as a native sidecar beside a program
// that can take new configuration in place (see src/agent/). Serves /healthz,
// /metrics and /status (JSON) on --port, on loopback by default.
import { parseArgs } from 'node:util';
import Fastify, { LogController } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Agent } from '../agent/agent.ts';
import { AgentMetrics } from '../agent/metrics.ts';
import { parseTrigger } from '../agent/trigger.ts';
import { closeWithin, countRequests, listeningPort } from '../http/server.ts';
import { createLogger, LOG_LEVELS, type LogLevel } from '../telemetry/log.ts';
import { parseDuration } from '../time/duration.ts';
import { UsageError } from './run-options.ts';

export const AGENT_USAGE = `usage: confighash agent --volume DIR [--volume DIR ...] --reload TRIGGER [flags]

Watches configuration volumes and reloads a program in place when they change.

  --volume DIR            a mounted configMap, secret or projected volume (repeatable)
  --reload TRIGGER        signal:SIGHUP (any signal) or http://127.0.0.1:PORT/PATH (POST)
  --target-env NAME=VALUE for a signal: the process whose environment holds NAME=VALUE
  --target-process NAME   for a signal: the process to signal (its command name)
  --target-pid PID        for a signal: the pid to signal
  --state FILE            what the agent remembers across its restarts (the pod's emptyDir)
  --settle DURATION       how long the volumes must stay unchanged (default 2s)
  --port PORT             /healthz, /metrics and /status (default 9099)
  --bind-address ADDR     (default 127.0.0.1)
  --log-level LEVEL       (default info)
`;

const OPTIONS = {
  volume: { type: 'string', multiple: true },
  reload: { type: 'string' },
  'target-env': { type: 'string' },
  'target-process': { type: 'string' },
  'target-pid': { type: 'string' },
  state: { type: 'string' },
  settle: { type: 'string', default: '2s' },
  port: { type: 'string', default: '9099' },
  'bind-address': { type: 'string', default: '127.0.0.1' },
  'log-level': { type: 'string', default: 'info' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function agentCommand(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false });
  if (values.help) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  const volumes = values.volume ?? [];
  if (volumes.length === 0 || !values.reload)
    throw new UsageError(`--volume and --reload are required\n\n${AGENT_USAGE}`);
  const logLevel = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const settleMs = parseDuration(values.settle);
  const logger = createLogger(logLevel).child({ component: 'agent' });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const trigger = parseTrigger(values.reload, {
    ...(values['target-pid'] ? { pid: Number(values['target-pid']) } : {}),
    ...(values['target-process'] ? { processName: values['target-process'] } : {}),
    ...(values['target-env'] ? { environment: values['target-env'] } : {}),
    verifyMs: 2000,
  });
  const agent = new Agent({
    volumes,
    ...(values.state ? { stateFile: values.state } : {}),
    trigger,
    settleMs,
    pollMs: 500,
    // About 15 s of retries; the next change of configuration is tried afresh.
    retry: { initialMs: 500, maxMs: 8_000, attempts: 5 },
    logger,
    metrics: new AgentMetrics(registry),
  });
  await agent.start();

  const server = Fastify({ logController: new LogController({ disableRequestLogging: true }) });
  const inFlight = countRequests(server.server);
  server.get('/healthz', () => 'ok\n');
  server.get('/status', () => agent.status);
  server.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  await server.listen({ host: values['bind-address'], port: Number(values.port) });
  logger.info(
    { port: listeningPort(server.server.address()), volumes, trigger: trigger.description },
    'agent watching',
  );

  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await agent.stop();
  await closeWithin(server, 1000, inFlight);
  return 0;
}
