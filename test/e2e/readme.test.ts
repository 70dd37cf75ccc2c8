// The README's commands, run the way a reader would run them, on the local control
// plane. Every `sh` block is claimed by one entry below: run for real (with the
// smallest change that keeps the shared test cluster intact, said next to it), or
// skipped with the reason. A new block that no entry claims fails the test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { binaryDir } from '../cluster/binaries.ts';
import { startConfighashForTest } from '../support/confighash.ts';
import { apply, kubectl } from '../support/kube.ts';
import { settledRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ROOT = join(import.meta.dirname, '..', '..');

interface Block {
  /** Its commands, continuation lines joined, comments dropped. */
  commands: string[];
  /** The block's text, for running it as a script. */
  script: string;
}

async function readmeBlocks(): Promise<Block[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map(([, body = '']) => {
    const script = body.replace(/\\\n\s*/g, '');
    const commands = script
      .split('\n')
      .map((line) => line.replace(/\s+#\s.*$/, '').trim())
      .filter((line) => line.length > 0);
    return { commands, script: commands.join('\n') };
  });
}

/** Runs `script` in bash from the repository root; resolves with stdout, rejects with stderr. */
function bash(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${script}\n${stderr || error.message}`));
      else resolve(stdout);
    });
  });
}

/** An environment where `kubectl confighash` is this checkout's bin/confighash, as `npm install -g .` makes it. */
async function pluginEnv(t: TestContext): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'confighash-plugin-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await symlink(join(ROOT, 'bin', 'confighash'), join(dir, 'kubectl-confighash'));
  return { ...process.env, PATH: [dir, binaryDir(), process.env['PATH'] ?? ''].join(delimiter) };
}

/** A control plane of the README's own, in a directory of its own, so the shared one is left alone. */
async function ownClusterEnv(t: TestContext): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'confighash-readme-cluster-'));
  t.after(async () => {
    await bash('npm run -s cluster -- down', { ...process.env, CONFIGHASH_CLUSTER_DIR: dir }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  const env: NodeJS.ProcessEnv = { ...process.env, CONFIGHASH_CLUSTER_DIR: dir };
  delete env['KUBECONFIG'];
  return env;
}

type Handler = { skip: string } | { run: (block: Block, t: TestContext) => Promise<void> };

/** Which block is which: the first command that identifies it, and what to do with it. */
const HANDLERS: [identifiedBy: string, handler: Handler][] = [
  [
    'kubectl apply -k manifests/',
    {
      // A server-side dry run of the apply: a real one would put a second confighash (that never
      // runs: no kubelet) into the namespace every other test uses. The label runs for real.
      run: async (block, t) => {
        const script = block.script.replace('kubectl apply -k manifests/', 'kubectl apply -k manifests/ --dry-run=server');
        assert.match(await bash(script, await pluginEnv(t)), /namespace\/my-app labeled/);
      },
    },
  ],
  [
    'npm install -g .',
    {
      // `npm install -g .` would change the machine; `kubectl-confighash` is put on PATH instead,
      // which is what it installs. The rest runs for real, against confighash and a workload.
      run: async (block, t) => {
        const confighash = await startConfighashForTest(t);
        await apply('my-app', configMap('app', { LEVEL: 'info' }), workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }));
        assert.equal(await settledRevisions('my-app', 'Deployment', 'web', confighash.metricsUrl), 1);
        const script = block.commands.filter((c) => c !== 'npm install -g .').join('\n');
        const out = await bash(script, await pluginEnv(t));
        assert.match(out, /my-app\s+deployment\/web\s+current/);
        assert.match(out, /configmap\/app\s+\*\s+containers\[app\]\.envFrom/);
        assert.match(out, /new Secret digests are signed with key [0-9a-f]{8}; nothing rolls now/);
        assert.equal(await settledRevisions('my-app', 'Deployment', 'web', confighash.metricsUrl), 1);
      },
    },
  ],
  [
    'npm run cluster -- up && export KUBECONFIG=$(npm run -s cluster -- kubeconfig)',
    {
      // On a control plane of its own. `confighash run` serves until stopped: it is run in the
      // background until it says it is serving, then stopped.
      run: async (block, t) => {
        const run = block.commands.find((c) => c.startsWith('./bin/confighash run')) ?? '';
        assert.ok(run);
        const background = `log=$(mktemp); ${run} >"$log" 2>&1 & pid=$!
for i in $(seq 300); do grep -q '"confighash is serving"' "$log" && break; kill -0 $pid; sleep 0.1; done
grep -q '"confighash is serving"' "$log"; kill $pid; wait $pid || true; echo served`;
        const out = await bash(block.script.replace(run, background), await ownClusterEnv(t));
        assert.match(out, /served$/m);
      },
    },
  ],
  [
    'helm install confighash charts/confighash --namespace confighash-system --create-namespace',
    {
      // A server-side dry run, for the same reason as the apply's (test/e2e/helm.test.ts installs it for real).
      run: async (block) => {
        const out = await bash(block.script.replace('helm install', 'helm install --dry-run=server'), process.env);
        assert.match(out, /STATUS: pending-install/);
      },
    },
  ],
  ['npm run demo', { skip: 'CI runs the demo before the tests (.ci/run)' }],
  ['npm ci', { skip: 'the development commands: .ci/run runs each of them, and this test runs inside `npm test`' }],
  [
    'npm run cluster -- up',
    {
      run: async (block, t) => {
        const out = await bash(block.script, await ownClusterEnv(t));
        assert.match(out, /Server Version: v1\.35\.4/);
      },
    },
  ],
];

describe('README', () => {
  // The README's namespace, shared by its blocks as by a reader's shell session.
  before(() => kubectl(['create', 'namespace', 'my-app']));
  after(() => kubectl(['delete', 'namespace', 'my-app', '--wait=false']));

  it('every sh block is claimed: run for real, or skipped with a reason', async () => {
    for (const block of await readmeBlocks()) {
      assert.ok(HANDLERS.some(([first]) => block.commands[0] === first), `no entry in readme.test.ts for the block starting "${block.commands[0] ?? ''}"`);
    }
  });

  for (const [first, handler] of HANDLERS) {
    if ('skip' in handler) continue;
    it(`runs the block starting "${first}"`, async (t) => {
      const block = (await readmeBlocks()).find((b) => b.commands[0] === first);
      assert.ok(block, `the README has no block starting "${first}"`);
      await handler.run(block, t);
    });
  }
});
