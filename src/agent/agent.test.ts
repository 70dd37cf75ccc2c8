import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { freePort } from '../../test/cluster/controlplane.ts';
import { AtomicWriter } from '../../test/support/atomic-writer.ts';
import { until } from '../../test/support/until.ts';
import { reloadDecision } from '../checksum/index.ts';
import { Agent } from './agent.ts';
import { AgentMetrics } from './metrics.ts';
import { parseTrigger, type Trigger } from './trigger.ts';
import { readVolume, volumesDigest } from './volume.ts';

const SETTLE_MS = 150;
/** HMAC-SHA256, key 32 × 0x01, of the volume at /etc/app with app.conf and flags.yaml below. */
const KNOWN_DIGEST = '41c59ae03e8d7bbb5fa876e2d4a07419fd27a78b2bbc27e5cfea7b1e9ed5492b';

async function volume(t: TestContext, files: Record<string, string>): Promise<AtomicWriter> {
  const dir = await mkdtemp(join(tmpdir(), 'confighash-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const writer = new AtomicWriter(join(dir, 'config'));
  await writer.write(files);
  return writer;
}

/**
 * An HTTP reload endpoint on loopback that answers with `statuses` in turn (then
 * 200), counting POSTs; with `reads`, each POST also records what the program
 * would read then (a reload of a configuration already taken would show twice).
 */
async function endpoint(
  t: TestContext,
  statuses: number[] = [],
  reads?: () => Promise<string>,
): Promise<{ url: string; posts: () => number; seen: string[] }> {
  let posts = 0;
  const seen: string[] = [];
  const server: Server = createServer((_request, response) => {
    posts += 1;
    response.statusCode = statuses.shift() ?? 200;
    if (!reads) return void response.end();
    void reads().then((read) => {
      seen.push(read);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  );
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/-/reload`, posts: () => posts, seen };
}

async function agent(
  t: TestContext,
  volumes: string[],
  trigger: Trigger,
  { attempts = 4, stateFile }: { attempts?: number; stateFile?: string } = {},
): Promise<{ agent: Agent; registry: Registry }> {
  const registry = new Registry();
  const a = new Agent({
    ...(stateFile ? { stateFile } : {}),
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

/** What a program reading `files` of `dirs` would see now, one line. */
const reader =
  (dirs: readonly string[], file: string): (() => Promise<string>) =>
  async () =>
    (await Promise.all(dirs.map((dir) => readFile(join(dir, file), 'utf8').catch(() => '-')))).join(' ');

describe('reload agent', () => {
  // Each reload records what the program then reads, and the agent reloads one
  // configuration at a time: a reload at start, or a second one of a change,
  // would show in `seen` before the reload of the next change.
  it('reloads an HTTP endpoint exactly once per change, and not at start', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info' });
    const { url, seen } = await endpoint(t, [], reader([config.dir], 'app.conf'));
    const { agent: a } = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }));

    await config.write({ 'app.conf': 'level=debug' });
    await until(() => seen.length === 1, 'one reload');
    await config.write({ 'app.conf': 'level=warn' });
    await until(() => seen.includes('level=warn') && a.status.state === 'current', 'the next change reloaded');
    assert.deepEqual(seen, ['level=debug', 'level=warn']);
    assert.equal(a.status.reloads, 2);
  });

  it('never reloads a half-updated volume, and folds a burst and several volumes into one reload', async (t) => {
    const first = await volume(t, { v: 'a1' });
    const second = await volume(t, { v: 'b1' });
    const { url, seen } = await endpoint(t, [], reader([first.dir, second.dir], 'v'));
    await agent(t, [first.dir, second.dir], parseTrigger(url, { verifyMs: 0 }));

    // A version staged in the first volume, and a change of the second: the reload takes the second only.
    await first.stage({ v: 'a2' });
    await second.write({ v: 'b2' });
    await until(() => seen.length === 1, 'the reload of the second volume');
    await first.swap();
    await second.write({ v: 'b3' });
    await second.write({ v: 'b4' });
    await until(() => seen.includes('a2 b4'), 'one reload for everything');
    assert.deepEqual(seen, ['a1 b2', 'a2 b4'], 'a half-updated volume or a step of the burst was reloaded');
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
    const { agent: a } = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }), { attempts: 3 });
    await config.write({ x: '2' });
    await until(() => a.status.state === 'failed', 'the agent to give up');
    assert.match(a.status.lastError ?? '', /HTTP 500/);
  });

  it('reloads a process by signal exactly once per change, and notices a process that died', async (t) => {
    const config = await volume(t, { x: '1' });
    // The program prints what it reads at each SIGHUP, and says when its handler is in place.
    const program = `const { readFileSync } = require('node:fs');
      process.on('SIGHUP', () => console.log('hup ' + readFileSync(${JSON.stringify(join(config.dir, 'x'))}, 'utf8')));
      console.log('ready'); setInterval(() => {}, 1000);`;
    const child: ChildProcess = spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'ignore'] });
    t.after(() => child.kill('SIGKILL'));
    const lines: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => lines.push(...chunk.toString().trim().split('\n')));
    await until(() => lines.includes('ready'), 'the program to catch SIGHUP');
    const { agent: a } = await agent(
      t,
      [config.dir],
      parseTrigger('signal:SIGHUP', { pid: child.pid ?? 0, verifyMs: 50 }),
    );

    await config.write({ x: '2' });
    await until(() => lines.includes('hup 2'), 'one SIGHUP');
    await config.write({ x: '3' });
    await until(() => lines.includes('hup 3'), 'the next change');
    assert.deepEqual(lines, ['ready', 'hup 2', 'hup 3']);

    child.kill('SIGKILL');
    await config.write({ x: '4' });
    await until(() => a.status.state === 'failed' || a.status.lastError !== undefined, 'the failure to be seen');
    assert.match(a.status.lastError ?? '', /ESRCH|died/);
  });

  it("runs as `confighash agent`: one POST per change; its logs, /status, /metrics and state file hold neither a Secret's value nor its hash", async (t) => {
    // A canary: a low-entropy Secret value (a PIN), as the kubelet mounts it.
    const pin = 'pin-4821-canary';
    const config = await volume(t, { pin });
    const { url, posts } = await endpoint(t);
    const port = await freePort();
    const state = join(await mkdtemp(join(tmpdir(), 'confighash-agent-state-')), 'state.json');
    const main = join(import.meta.dirname, '..', 'cli', 'main.ts');
    const child = spawn(
      process.execPath,
      [
        main,
        'agent',
        `--volume=${config.dir}`,
        `--reload=${url}`,
        '--settle=200ms',
        `--port=${port}`,
        `--state=${state}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    t.after(() => child.kill('SIGKILL'));
    const status = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/status`)).text();
    await until(
      async () => (JSON.parse(await status()) as { state: string }).state === 'current',
      'the agent to serve',
    );

    await config.write({ pin: 'pin-9377-canary' });
    await until(async () => (JSON.parse(await status()) as { reloads: number }).reloads === 1, 'one reload');
    assert.equal(posts(), 1);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /confighash_agent_reloads_total\{result="success"\} 1/);
    assert.match(metrics, /confighash_agent_config_current 1/);
    const everything = [output, await status(), metrics, await readFile(state, 'utf8')].join('\n');
    assert.match(output, /agent status/, 'the status lines were captured');
    for (const value of [pin, 'pin-9377-canary']) {
      const hash = createHash('sha256').update(value).digest('hex');
      const hashOfHash = createHash('sha256').update(hash).digest('hex');
      for (const leak of [value, hash.slice(0, 12), hashOfHash.slice(0, 12)])
        assert.ok(!everything.includes(leak), `the output shows ${leak}`);
    }
  });

  it('remembers across its own restart what the program runs: a change made while it was down is reloaded, not taken as what runs', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info' });
    const { url, seen } = await endpoint(t, [], reader([config.dir], 'app.conf'));
    const stateFile = join(await mkdtemp(join(tmpdir(), 'confighash-agent-state-')), 'state.json');
    const first = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }), { stateFile });
    const startedAt = first.agent.status.startedAt;
    await first.agent.stop();

    // The agent is OOM-killed; the kubelet updates the volume before it is back.
    await config.write({ 'app.conf': 'level=debug' });
    const second = await agent(t, [config.dir], parseTrigger(url, { verifyMs: 0 }), { stateFile });
    assert.equal(second.agent.status.startedAt, startedAt, "it reports the pod's first start, not its restart");
    assert.equal(second.agent.status.state, 'waiting');
    await until(
      () => second.agent.status.reloads === 1 && second.agent.status.state === 'current',
      'the reload reported',
    );
    await config.write({ 'app.conf': 'level=warn' });
    await until(() => seen.includes('level=warn'), 'the next change reloaded');
    assert.deepEqual(seen, ['level=debug', 'level=warn']);
  });

  it("follows no redirect from the program's endpoint: the reload fails, and the target is never called", async (t) => {
    const elsewhere = await endpoint(t);
    let posts = 0;
    const server: Server = createServer((_request, response) => {
      posts++;
      response.writeHead(307, { location: elsewhere.url }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(
      () =>
        new Promise<void>((resolve) =>
          server.close(() => {
            resolve();
          }),
        ),
    );
    const address = server.address();
    const trigger = parseTrigger(
      `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/-/reload`,
      { verifyMs: 0 },
    );
    await assert.rejects(trigger.fire(), /HTTP 307 \(a redirect, not followed\)/);
    assert.equal(posts, 1);
    assert.equal(elsewhere.posts(), 0);
  });

  it('refuses a trigger it does not understand, exactly those the webhook refuses to inject', () => {
    const spec = {
      containers: [{ name: 'app', volumeMounts: [{ name: 'config', mountPath: '/etc/app' }] }],
      volumes: [{ name: 'config', configMap: { name: 'app' } }],
    };
    const inputs = [
      'SIGHUP',
      'signal:SIGNOPE',
      'signal:SIGHUB',
      'signal:SIGKILL',
      'signal:SIGSTOP',
      'signal:SIGHUP',
      'signal:SIGUSR2',
      'http://10.0.0.1/reload',
      'https://127.0.0.1/reload',
      'http://127.0.0.1/reload',
      'http://127.0.0.1:9090/-/reload',
    ];
    for (const text of inputs) {
      const injected = reloadDecision(spec, { 'confighash.dev/reload': text }).kind === 'plan';
      let started = true;
      try {
        parseTrigger(text, { verifyMs: 0 });
      } catch {
        started = false;
      }
      assert.equal(injected, started, text);
    }
    assert.throws(() => parseTrigger('signal:SIGHUB', { verifyMs: 0 }), /a signal the program can catch/);
  });

  it('keys its digest of the volumes (known answer)', async (t) => {
    const config = await volume(t, { 'app.conf': 'level=info', 'flags.yaml': 'a: 1' });
    const contents = { ...(await readVolume(config.dir)), dir: '/etc/app' };
    assert.equal(volumesDigest([contents], Buffer.alloc(32, 1)), volumesDigest([contents], Buffer.alloc(32, 1)));
    assert.notEqual(
      volumesDigest([contents], Buffer.alloc(32, 1)),
      volumesDigest([contents], Buffer.alloc(32, 2)),
      'another key, another digest',
    );
    assert.equal(volumesDigest([contents], Buffer.alloc(32, 1)), KNOWN_DIGEST);
  });
});
