// The commands of the README (and of the docs its internals moved to), run the way a
// reader would run them, on the local control plane. Every `sh` block is claimed by
// one entry below: run for real (with the smallest change that keeps the shared test
// cluster intact, said next to it), or skipped with the reason. A new block that no
// entry claims fails the test.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { binaryDir } from '../cluster/binaries.ts';
import { startConfighashForTest } from '../support/confighash.ts';
import { apply, kubectl, waitFor } from '../support/kube.ts';
import { settledRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ROOT = join(import.meta.dirname, '..', '..');
/** The pages whose `sh` blocks are run: the README, and where its internals moved. */
const PAGES = ['README.md', 'docs/development.md', 'docs/how-it-works.md'];

interface Block {
  /** Its commands, continuation lines joined, comments dropped. */
  commands: string[];
  /** The block's text, for running it as a script. */
  script: string;
}

async function readmeBlocks(): Promise<Block[]> {
  const pages = await Promise.all(PAGES.map((page) => readFile(join(ROOT, page), 'utf8')));
  return pages
    .flatMap((page) => [...page.matchAll(/```sh\n([\s\S]*?)```/g)])
    .map(([, body = '']) => {
      const script = body.replace(/\\\n\s*/g, '');
      const commands = script
        .split('\n')
        .map((line) => line.replace(/\s+#\s.*$/, '').trim())
        .filter((line) => line.length > 0);
      return { commands, script: commands.join('\n') };
    });
}

/** The README's YAML block that follows `marker` (a comment line in it). */
async function readmeYaml(marker: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map(([, body = '']) => body)
    .find((body) => body.startsWith(marker));
  assert.ok(block, `the README has no yaml block starting ${marker}`);
  return block;
}

/** Runs `script` in bash from the repository root; resolves with stdout, rejects with stderr. */
function bash(script: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024, timeout: 180_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${script}\n${stderr || error.message}`));
        else resolve(stdout);
      },
    );
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
    'npm run image -- --tag registry.example.com/confighash:0.1.0',
    {
      // For real, into a temporary directory instead of the checkout; the push needs a registry,
      // which this machine has not: it is left out.
      run: async (block, t) => {
        const dir = await mkdtemp(join(tmpdir(), 'confighash-readme-image-'));
        t.after(() => rm(dir, { recursive: true, force: true }));
        const [build = ''] = block.commands;
        assert.ok(
          block.commands[1]?.startsWith(
            'skopeo copy oci-archive:confighash.oci.tar docker://registry.example.com/confighash:0.1.0',
          ),
        );
        await bash(`${build} --out ${join(dir, 'confighash.oci.tar')}`, process.env);
        assert.ok((await stat(join(dir, 'confighash.oci.tar'))).size > 10_000_000, 'an image archive was written');
      },
    },
  ],
  [
    'kubectl apply -k confighash/',
    {
      // The README's overlay, written where it says (beside a checkout, `../manifests`), applied as a
      // server-side dry run: a real one would put a second confighash (whose image no registry holds)
      // into the namespace every other test uses, so the rollout status that follows is left out.
      run: async (block, t) => {
        const dir = await mkdtemp(join(tmpdir(), 'confighash-readme-overlay-'));
        t.after(() => rm(dir, { recursive: true, force: true }));
        await symlink(join(ROOT, 'manifests'), join(dir, 'manifests'));
        await mkdir(join(dir, 'confighash'));
        await writeFile(
          join(dir, 'confighash', 'kustomization.yaml'),
          await readmeYaml('# confighash/kustomization.yaml'),
        );
        const rendered = await kubectl(['kustomize', join(dir, 'confighash')]);
        assert.match(
          rendered,
          /^ {8}image: registry\.example\.com\/confighash:0\.1\.0$/m,
          "the controller's image is overridden",
        );
        assert.match(
          rendered,
          /- name: CONFIGHASH_AGENT_IMAGE\n {10}value: registry\.example\.com\/confighash:0\.1\.0$/m,
          "and the reload agent's with it",
        );
        assert.doesNotMatch(rendered, /ghcr\.io/);
        assert.equal(block.commands[1], 'kubectl -n confighash-system rollout status deployment/confighash');
        const out = await bash(`cd ${dir} && ${block.commands[0] ?? ''} --dry-run=server`, process.env);
        assert.match(out, /^deployment\.apps\/confighash (created|configured|unchanged) \(server dry run\)$/m);
      },
    },
  ],
  [
    'helm install confighash charts/confighash --namespace confighash-system --create-namespace --set image.repository=registry.example.com/confighash --set image.tag=0.1.0',
    {
      // A server-side dry run, for the same reason as the apply's (test/e2e-node/installed.test.ts installs it for real).
      run: async (block) => {
        const out = await bash(block.script.replace('helm install', 'helm install --dry-run=server'), process.env);
        assert.match(out, /STATUS: pending-install/);
        assert.match(out, /value: registry\.example\.com\/confighash:0\.1\.0/);
      },
    },
  ],
  [
    'kubectl create namespace my-app',
    {
      // The namespace is this test's (created before, shared by the blocks as by a reader's shell):
      // the create is left out. The rest runs for real, against confighash and the quick start.
      run: async (block, t) => {
        await startConfighashForTest(t);
        t.after(() =>
          kubectl(['delete', '-n', 'my-app', '-f', join(ROOT, 'examples', 'quickstart.yaml'), '--ignore-not-found']),
        );
        const out = await bash(
          block.commands.filter((c) => c !== 'kubectl create namespace my-app').join('\n'),
          process.env,
        );
        assert.match(out, /"confighash\.dev\/checksum":"v2:/);
        assert.match(out, /"confighash\.dev\/sources":"configmap\/app=[0-9a-f]{12}"/);
      },
    },
  ],
  [
    'kubectl -n my-app patch configmap app --type=merge -p \'{"data":{"LOG_LEVEL":"debug"}}\'',
    {
      // After the quick start's apply (done here as the block before does it). The Event is written
      // once the coalescing window has passed: the reader runs `get events` again, this test polls.
      run: async (block, t) => {
        const confighash = await startConfighashForTest(t);
        t.after(() =>
          kubectl(['delete', '-n', 'my-app', '-f', join(ROOT, 'examples', 'quickstart.yaml'), '--ignore-not-found']),
        );
        await kubectl(['apply', '-n', 'my-app', '-f', join(ROOT, 'examples', 'quickstart.yaml')]);
        assert.equal(await settledRevisions('my-app', 'Deployment', 'web', confighash.metricsUrl), 1);
        const [patch = '', events = '', history = ''] = block.commands;
        await bash(patch, process.env);
        const out = await waitFor('the ConfigChanged Event', async () => {
          const listed = await bash(events, process.env);
          return /Normal\s+ConfigChanged\s+deployment\/web\s+Rolling out: configuration changed: configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LOG_LEVEL\)/.test(
            listed,
          )
            ? listed
            : undefined;
        });
        assert.ok(out);
        assert.equal(await settledRevisions('my-app', 'Deployment', 'web', confighash.metricsUrl), 2);
        assert.match(await bash(history, process.env), /^2\s/m);
      },
    },
  ],
  [
    'npm run cluster -- up --node --install',
    // scripts/demo is .ci/run's set-up followed by `npm run demo`, which CI runs before the tests.
    {
      skip: "a second node cannot run beside the test run's own; test/e2e-node/installed.test.ts installs the same way on it (test/cluster/in-cluster.ts), and CI runs the demo",
    },
  ],
  [
    'npm install -g .',
    {
      // `npm install -g .` would change the machine; `kubectl-confighash` is put on PATH instead,
      // which is what it installs. The rest runs for real, against confighash and a workload.
      run: async (block, t) => {
        const confighash = await startConfighashForTest(t);
        t.after(() => kubectl(['delete', 'deployment/web', 'configmap/app', '-n', 'my-app', '--ignore-not-found']));
        await apply(
          'my-app',
          configMap('app', { LEVEL: 'info' }),
          workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
        );
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
    'kubectl apply -n my-app -f examples/quickstart.yaml --dry-run=server -o yaml | grep confighash.dev/checksum',
    {
      // The check, for real. The other two lines need confighash installed in the cluster, which this
      // test runs next to instead: test/e2e-node/installed.test.ts reads its pods, Events and logs.
      run: async (block, t) => {
        await startConfighashForTest(t);
        assert.deepEqual(block.commands.slice(1), [
          'kubectl -n confighash-system get pods,events',
          'kubectl -n confighash-system logs deployment/confighash',
        ]);
        assert.match(await bash(block.commands[0] ?? '', process.env), /confighash\.dev\/checksum: v2:/);
      },
    },
  ],
  [
    'scripts/test',
    {
      skip: 'scripts/setup.sh is what .ci/run runs first; CI then runs the demo and npm test, inside which this test runs',
    },
  ],
  ['npm ci', { skip: 'the development commands: .ci/run runs each of them, and this test runs inside `npm test`' }],
  ['npm run demo', { skip: 'CI runs the demo before the tests (.ci/run)' }],
  [
    'npm run cluster -- up',
    {
      run: async (block, t) => {
        const out = await bash(block.script, await ownClusterEnv(t));
        assert.match(out, /Server Version: v1\.35\.4/);
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
];

describe('README and the docs its internals moved to', () => {
  // The README's namespace, shared by its blocks as by a reader's shell session.
  before(() => kubectl(['create', 'namespace', 'my-app']));
  after(() => kubectl(['delete', 'namespace', 'my-app', '--wait=false']));

  it('every sh block is claimed: run for real, or skipped with a reason', async () => {
    for (const block of await readmeBlocks()) {
      assert.ok(
        HANDLERS.some(([first]) => block.commands[0] === first),
        `no entry in readme.test.ts for the block starting "${block.commands[0] ?? ''}"`,
      );
    }
  });

  for (const [first, handler] of HANDLERS) {
    if ('skip' in handler) continue;
    it(`runs the block starting "${first}"`, async (t) => {
      const block = (await readmeBlocks()).find((b) => b.commands[0] === first);
      assert.ok(block, `no page of ${PAGES.join(', ')} has a block starting "${first}"`);
      await handler.run(block, t);
    });
  }
});
