// Helpers for end-to-end tests: drive the local control plane with kubectl the way
// a user does, poll with a deadline, and give each test a namespace of its own.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { TestContext } from 'node:test';

const POLL_INTERVAL_MS = 100;
const DEFAULT_TIMEOUT_MS = 30_000;

/** Runs kubectl against the test control plane and returns its stdout. */
export async function kubectl(args: readonly string[], input?: string): Promise<string> {
  return (await runKubectl(args, input)).stdout;
}

/** Runs kubectl and returns its stderr, where it prints warnings (e.g. from admission). */
export async function kubectlStderr(args: readonly string[], input?: string): Promise<string> {
  return (await runKubectl(args, input)).stderr;
}

function runKubectl(args: readonly string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  return runCommand('kubectl', args, input);
}

/** Runs a command that drives the control plane (kubectl, helm) and returns its stdout. */
export async function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return (await runCommand(command, args, input)).stdout;
}

function runCommand(
  command: string,
  args: readonly string[],
  input?: string,
): Promise<{ stdout: string; stderr: string }> {
  if (!process.env['KUBECONFIG']) {
    throw new Error('end-to-end tests need the local control plane: run them with `npm test`');
  }
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve({ stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

/** Runs kubectl with `-o json` and parses the result. */
export async function kubectlJson<T = unknown>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

/** Applies manifests (objects are serialised as JSON, which kubectl reads as YAML). */
export function apply(namespace: string, ...objects: object[]): Promise<string> {
  const list = { apiVersion: 'v1', kind: 'List', items: objects };
  return kubectl(['apply', '-n', namespace, '-f', '-'], JSON.stringify(list));
}

/**
 * Polls `probe` until it returns a value other than undefined, or fails after
 * `timeoutMs` with `description` and the last error the probe raised.
 */
export async function waitFor<T>(
  description: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await delay(POLL_INTERVAL_MS);
  }
  const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${description}${cause}`);
}

/** Creates a namespace unique to this test, with `labels`, deleted when the test ends. */
export async function testNamespace(t: TestContext, labels: Record<string, string> = {}): Promise<string> {
  const name = `e2e-${randomBytes(4).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  const labelArgs = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  if (labelArgs.length > 0) await kubectl(['label', 'namespace', name, ...labelArgs]);
  t.after(() => kubectl(['delete', 'namespace', name, '--wait=false']));
  return name;
}
