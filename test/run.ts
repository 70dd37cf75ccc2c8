// `npm test`: every test, unit and end-to-end, in one run of node's test runner,
// against one local control plane with a real node, started for the run and
// stopped after it; then it checks that the node left nothing on the host.
// CONFIGHASH_TEST_NODE=0 runs without the node (and without test/e2e-node/).
// CONFIGHASH_TEST_KUBECONFIG=path reuses a running control plane instead (see README).
// Arguments are passed to `node --test`, e.g. `npm test -- test/e2e/x.test.ts`.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { binaryDir } from './cluster/binaries.ts';
import {
  type ControlPlaneHandle,
  launchControlPlane,
  runningControlPlane,
  stopControlPlane,
} from './cluster/launcher.ts';
import { ensureHelm } from './cluster/helm.ts';
import { nodeLeftovers, nodePaths } from './cluster/node.ts';

const DEFAULT_FILES = [
  'src/**/*.test.ts',
  'certs/**/*.test.ts',
  'bench/**/*.test.ts',
  'test/cluster/*.test.ts',
  'test/*.test.ts',
  'test/e2e/*.test.ts',
];
/** Tests of what running pods serve: only where the control plane has a node. */
const NODE_FILES = ['test/e2e-node/*.test.ts'];
const WITH_NODE = process.env['CONFIGHASH_TEST_NODE'] !== '0';
const TEST_TIMEOUT_MS = 5 * 60_000;
const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

async function controlPlaneKubeconfig(): Promise<{ kubeconfig: string; handle?: ControlPlaneHandle; owned: boolean }> {
  const given = process.env['CONFIGHASH_TEST_KUBECONFIG'];
  if (given) {
    // A control plane from `npm run cluster -- up` can also be restarted by the tests that need it.
    const running = await runningControlPlane(join(import.meta.dirname, '..', '.cluster'));
    return running?.kubeconfig === given
      ? { kubeconfig: given, handle: running, owned: false }
      : { kubeconfig: given, owned: false };
  }
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'confighash-test-cluster-'));
  const handle = await launchControlPlane(dir, false, say, { node: WITH_NODE });
  say(`local control plane ready at ${handle.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  return { kubeconfig: handle.kubeconfig, handle, owned: true };
}

function runTests(
  kubeconfig: string,
  handle: ControlPlaneHandle | undefined,
  args: string[],
  helm: string,
): Promise<number> {
  const files = everyTest ? [...DEFAULT_FILES, ...(handle?.node ? NODE_FILES : [])] : [];
  // One file at a time: end-to-end tests share the cluster-scoped webhook configuration.
  const child = spawn(
    process.execPath,
    ['--test', '--test-concurrency=1', `--test-timeout=${TEST_TIMEOUT_MS}`, ...args, ...files],
    {
      stdio: 'inherit',
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        // Tests drive the cluster with the kubectl built alongside it, and the chart with Helm.
        PATH: `${binaryDir()}${delimiter}${helm}${delimiter}${process.env['PATH'] ?? ''}`,
        ...(handle ? { CONFIGHASH_TEST_CONTROL_PLANE: JSON.stringify(handle) } : {}),
      },
    },
  );
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  return new Promise((resolve) =>
    child.on('close', (code) => {
      resolve(code ?? 1);
    }),
  );
}

const helm = await ensureHelm(say);
const args = process.argv.slice(2);
const everyTest = !args.some((arg) => !arg.startsWith('-'));
const { kubeconfig, handle, owned } = await controlPlaneKubeconfig();
try {
  process.exitCode = await runTests(kubeconfig, handle, args, helm);
} finally {
  if (handle && owned) await stopControlPlane(handle);
}
if (handle?.node && owned) {
  // The node's own test: after down, nothing of it is left on the host.
  const left = await nodeLeftovers(nodePaths(handle.dir).dir);
  if (left.length > 0) {
    say(`the node left behind: ${left.join(', ')}`);
    process.exitCode = 1;
  } else say('the node left nothing behind (mounts, interfaces, processes, cgroups)');
}
