import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { freePort } from '../../test/cluster/controlplane.ts';
import { AtomicWriter } from '../../test/support/atomic-writer.ts';
import { until } from '../../test/support/until.ts';
import { Agent } from './agent.ts';
import { AgentMetrics } from './metrics.ts';
import { parseTrigger, type Trigger } from './trigger.ts';
import { readVolume, volumesDigest } from './volume.ts';

const SETTLE_MS = 150;

async function volume(t: TestContext, files: Record<string, string>): Promise<AtomicWriter> {
  const dir = await mkdtemp(join(tmpdir(), 'confighash-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const writer = new AtomicWriter(join(dir, 'config'));
  await writer.write(files);
  return writer;
}

/** An HTTP reload endpoint on loopback that answers with `statuses` in turn (then 200), counting POSTs. */
async function endpoint(t: TestContext, statuses: number[] = []): Promise<{ url: string; posts: () => number }> {
  let posts = 0;
  const server: Server = createServer((request, response) => {
    posts += 1;
    response.statusCode = statuses.shift() ?? 200;
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => { resolve(); })));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/-/reload`, posts: () => posts };
}

async function agent(t: TestContext, volumes: string[], trigger: Trigger, attempts = 4): Promise<{ agent: Agent; registry: Registry }> {
  const registry = new Registry();
  const a = new Agent({
    volumes,
    trigger,
    settleMs: SETTLE_MS,
    pollMs: 20,
    retry: { initialMs: 20, maxMs: 100, attempts },
    logger: pino({ level: 'silent' }),
    metrics: new AgentMetrics(registry),
  });
  await a.start();
  t.after(() => a.stop());
  return { agent: a, registry };
}

async function metric(registry: Registry, name: string, result: string): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  const value = values.find((v) => v.labels['result'] === result);
  if (!value) throw new Error(`no ${name}{result="${result}"}`);
  return value.value;
}

/**
 * Lets the agent see a settled state and act on it, if it were going to: the
 * window in which a second, wrong reload would show (an absence cannot be polled for).
 */
const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLE_MS * 4));

describe('reload agent', () => {
  it('reloads an HTTP endpoint exactly once per change, and not at start', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info' });
    const { url, posts } = await endpoint(t);
    const { agent: a } = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }));
    await quiet();
    assert.equal(posts(), 0, 'nothing changed since the program started');

    await config.write({ 'app.conf': 'level=debug' });
    await until(() => posts() === 1, 'one reload');
    await quiet();
    assert.equal(posts(), 1);
    assert.equal(a.status.state, 'current');
  });

  it('never reloads a half-updated volume, and folds a burst and several volumes into one reload', async (t) => {
    const first = await volume(t, { a: '1' });
    const second = await volume(t, { b: '1' });
    const { url, posts } = await endpoint(t);
    await agent(t, [first.dir, second.dir], parseTrigger(url, { verifyMs: 0 }));

    await first.stage({ a: '2' });
    await quiet();
    assert.equal(posts(), 0, 'reloaded before ..data was swapped');

    await first.swap();
    await second.write({ b: '2' });
    await second.write({ b: '3' });
    await until(() => posts() === 1, 'one reload for everything');
    await quiet();
    assert.equal(posts(), 1);
  });

  it('retries a failing endpoint with backoff until it answers 2xx', async (t) => {
    const config = await volume(t, { x: '1' });
    const { url, posts } = await endpoint(t, [500, 503]);
    const { agent: a, registry } = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }));
    await config.write({ x: '2' });
    await until(() => a.status.state === 'current' && a.status.reloads === 1, 'the reload to succeed');
    assert.equal(posts(), 3);
    assert.equal(await metric(registry, 'confighash_agent_reloads_total', 'failure'), 2);
    assert.equal(await metric(registry, 'confighash_agent_reloads_total', 'success'), 1);
  });

  it('reports failure when the endpoint never takes it, with the reason', async (t) => {
    const config = await volume(t, { x: '1' });
    const { url } = await endpoint(t, [500, 500, 500, 500]);
    const { agent: a } = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }), 3);
    await config.write({ x: '2' });
    await until(() => a.status.state === 'failed', 'the agent to give up');
    assert.match(a.status.lastError ?? '', /HTTP 500/);
  });

  it('reloads a process by signal exactly once per change, and notices a process that died', async (t) => {
    const config = await volume(t, { x: '1' });
    const child: ChildProcess = spawn(process.execPath, ['-e', "let n = 0; process.on('SIGHUP', () => console.log(`hup ${++n}`)); setInterval(() => {}, 1000);"], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => child.kill('SIGKILL'));
    const lines: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const { agent: a } = await agent(t, [config.dir], parseTrigger('signal:SIGHUP', { pid: child.pid ?? 0, verifyMs: 50 }));

    await config.write({ x: '2' });
    await until(() => lines.includes('hup 1'), 'one SIGHUP');
    await quiet();
    assert.deepEqual(lines, ['hup 1']);

    child.kill('SIGKILL');
    await config.write({ x: '3' });
    await until(() => a.status.state === 'failed' || a.status.lastError !== undefined, 'the failure to be seen');
    assert.match(a.status.lastError ?? '', /ESRCH|died/);
  });

  it('runs as `confighash agent`: one POST per change, and /status and /metrics say what it reloaded', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info' });
    const { url, posts } = await endpoint(t);
    const port = await freePort();
    const main = join(import.meta.dirname, '..', 'cli', 'main.ts');
    const child = spawn(process.execPath, [main, 'agent', `--volume=${config.dir}`, `--reload=${url}`, '--settle=200ms', `--port=${port}`], { stdio: 'ignore' });
    t.after(() => child.kill('SIGKILL'));
    const status = async (): Promise<{ state: string; reloads: number; reloadedDigest: string }> =>
      (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { state: string; reloads: number; reloadedDigest: string };
    await until(async () => (await status()).state === 'current', 'the agent to serve');
    const started = (await status()).reloadedDigest;

    await config.write({ 'app.conf': 'level=debug' });
    await until(async () => (await status()).reloads === 1, 'one reload');
    await quiet();
    assert.equal(posts(), 1);
    const now = await status();
    assert.notEqual(now.reloadedDigest, started);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /confighash_agent_reloads_total\{result="success"\} 1/);
    assert.match(metrics, new RegExp(`confighash_agent_reloaded_info\\{digest="${now.reloadedDigest.slice(0, 12)}"\\} 1`));
  });

  it('refuses a trigger it does not understand', () => {
    for (const bad of ['SIGHUP', 'signal:SIGNOPE', 'http://10.0.0.1/reload', 'https://127.0.0.1/reload']) {
      assert.throws(() => parseTrigger(bad, { verifyMs: 0 }));
    }
  });

  it('reports a pinned digest of the volumes it reloaded (known answer)', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info', 'flags.yaml': 'a: 1' });
    const digest = volumesDigest([{ ...(await readVolume(config.dir)), dir: '/etc/app' }]);
    assert.equal(digest, 'd5332c842dbdd11ecdf1a968b64636c0b39aa0e1057d85fc1eaed0c25d30fc66');
  });
});
