// Runs confighash next to the local control plane the way the demo and a user
// outside the cluster would: `confighash run --webhook-url https://127.0.0.1:PORT/mutate`.
// Waits until the apiserver actually calls the webhook, and stops it when the test ends.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { CONFIGHASH_IMAGE } from '../cluster/confighash-image.ts';
import { freePort } from '../cluster/controlplane.ts';
import { kubectl, waitFor } from './kube.ts';

export const CONFIGHASH_NAMESPACE = 'confighash-system';
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const PROBE_NAMESPACE = 'confighash-e2e-probe';
/** The processes started here and not yet stopped: the last one out removes the webhook configuration. */
const running = new Set<ChildProcess>();

export interface ConfighashProcess {
  webhookUrl: string;
  metricsUrl: string;
  pid: number;
  /** Every line it has logged so far. */
  logs: string[];
  /** SIGTERM, and wait for it to exit. */
  stop(): Promise<void>;
  /** SIGKILL, and wait for it to exit. */
  kill(): Promise<void>;
  /** Stop, and remove its webhook configuration. */
  cleanup(): Promise<void>;
}

/** Starts confighash for one test; stopped, and its webhook removed, when the test ends. */
export async function startConfighashForTest(
  t: TestContext,
  args: readonly string[] = [],
  launch: LaunchOptions = {},
): Promise<ConfighashProcess> {
  const confighash = await startConfighash(args, launch);
  t.after(() => confighash.cleanup());
  return confighash;
}

export interface LaunchOptions {
  /** The script to run: the TypeScript sources unless told otherwise (e.g. dist/cli/main.js). */
  main?: string;
  /** Flags for node itself, e.g. the image's V8 flags. */
  nodeArgs?: readonly string[];
  /** Environment added to this process's, e.g. the image's ENV. */
  env?: Record<string, string>;
  /** Where to probe that the API server calls the webhook (an opted-in namespace of its own by default). */
  probeNamespace?: string;
}

/** Starts confighash; `args` are extra `run` flags. The caller calls cleanup(). */
export async function startConfighash(
  args: readonly string[] = [],
  launch: LaunchOptions = {},
): Promise<ConfighashProcess> {
  await kubectl(['apply', '-f', '-'], JSON.stringify(namespaceManifest(CONFIGHASH_NAMESPACE, {})));
  const [webhookPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  const webhookUrl = `https://127.0.0.1:${webhookPort}/mutate`;
  const child = spawn(
    process.execPath,
    [
      ...(launch.nodeArgs ?? []),
      launch.main ?? MAIN,
      'run',
      `--namespace=${CONFIGHASH_NAMESPACE}`,
      '--bind-address=127.0.0.1',
      `--webhook-port=${webhookPort}`,
      `--metrics-port=${metricsPort}`,
      `--webhook-url=${webhookUrl}`,
      // The image the real node has (test/cluster/confighash-image.ts); the agent runs from it.
      `--agent-image=${CONFIGHASH_IMAGE}`,
      '--reload-in-place=true',
      // Without a node no rollout ever completes: waiting for one would hold every test's rollouts.
      // Tests of that policy say wait-for-rollout: "true" on their workloads.
      '--wait-for-rollout=false',
      '--log-level=debug',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...launch.env } },
  );
  running.add(child);
  const logs: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => logs.push(line));
  createInterface({ input: child.stderr }).on('line', (line) => logs.push(line));
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const signal = async (name: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
    running.delete(child);
  };
  const stop = (): Promise<void> => signal('SIGTERM');
  const cleanup = async (): Promise<void> => {
    const stopping = Date.now();
    await stop();
    running.delete(child);
    // Stopping takes milliseconds; say so when it does not, to make a slow test explicable.
    if (Date.now() - stopping > 5000) {
      const stopped = logs.findLast((line) => line.includes('"msg":"stopped"')) ?? '(no "stopped" log line)';
      process.stderr.write(`confighash took ${Date.now() - stopping}ms to stop: ${stopped}\n`);
    }
    // Another confighash of this test still running keeps (and would restore) it.
    if (running.size === 0)
      await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash', '--ignore-not-found']);
  };
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  try {
    await waitFor('confighash to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`confighash exited (${child.exitCode}):\n${logs.join('\n')}`);
      return (await fetch(`${metricsUrl}/readyz`)).ok || undefined;
    });
    await waitForWebhook(child, launch.probeNamespace);
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { webhookUrl, metricsUrl, pid: child.pid ?? 0, logs, stop, kill: () => signal('SIGKILL'), cleanup };
}

/** Probes with server-side dry runs until the apiserver has picked up the webhook configuration. */
async function waitForWebhook(child: ChildProcess, namespace?: string): Promise<void> {
  if (!namespace)
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(namespaceManifest(PROBE_NAMESPACE, { 'confighash.dev/enabled': 'true' })),
    );
  const probe = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'probe', namespace: namespace ?? PROBE_NAMESPACE },
    spec: {
      selector: { matchLabels: { app: 'probe' } },
      template: {
        metadata: { labels: { app: 'probe' } },
        spec: { containers: [{ name: 'c', image: 'pause', envFrom: [{ configMapRef: { name: 'probe' } }] }] },
      },
    },
  };
  await waitFor('the apiserver to call the confighash webhook', async () => {
    if (child.exitCode !== null) throw new Error('confighash exited');
    const out = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], JSON.stringify(probe));
    const created = JSON.parse(out) as { spec: { template: { metadata: { annotations?: Record<string, string> } } } };
    return created.spec.template.metadata.annotations?.['confighash.dev/checksum'] ? true : undefined;
  });
}

export function namespaceManifest(name: string, labels: Record<string, string>): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

/**
 * The value of a Prometheus sample, e.g. `confighash_webhook_requests_total{result="patched"}`;
 * throws when confighash does not export it (a misspelt name must not read as 0).
 */
export async function metricValue(metricsUrl: string, sample: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  if (!line) throw new Error(`confighash exports no sample ${sample}`);
  return Number(line.slice(sample.length + 1));
}

/** The resourceVersion of a workload as confighash's controller has seen it (its watch may lag). */
export async function observedVersion(
  metricsUrl: string,
  kind: string,
  namespace: string,
  name: string,
): Promise<string | undefined> {
  const response = await fetch(`${metricsUrl}/debug/observed/${kind}/${namespace}/${name}`);
  return response.ok ? (await response.text()).trim() : undefined;
}

/** Runs a `confighash` command (status, explain, rotate-key, …) from the sources; resolves with its stdout. */
export function confighashCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args], (error, stdout, stderr) => {
      if (error) reject(new Error(`confighash ${args.join(' ')}: ${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}
