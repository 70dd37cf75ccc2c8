// `npm run cluster -- up|down|kubeconfig|status`: the local control plane for
// development, kept in .cluster/ at the repository root (or $CONFIGHASH_CLUSTER_DIR).
import { join } from 'node:path';
import { KUBERNETES_VERSION } from './binaries.ts';
import { launchControlPlane, runningControlPlane, stopControlPlane } from './launcher.ts';

const USAGE = `usage: npm run cluster -- <command>

  up          start etcd, kube-apiserver and kube-controller-manager on loopback;
              returns when the apiserver is ready (builds the binaries if needed)
  up --node   also one real node: containerd, kubelet and kube-scheduler (needs root;
              installs containerd, runc and the CNI plugins with apt-get if absent)
  down        stop them and delete their state
  kubeconfig  print the admin kubeconfig's path (use: npm run -s cluster -- kubeconfig)
  status      say whether it is running, and where`;

const dir = process.env['CONFIGHASH_CLUSTER_DIR'] ?? join(import.meta.dirname, '..', '..', '.cluster');
const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** Each command returns the process exit code. */
const commands: Record<string, () => Promise<number>> = {
  async up() {
    const running = await runningControlPlane(dir);
    if (running) {
      say(`already running at ${running.server}`);
      return 0;
    }
    const started = Date.now();
    const handle = await launchControlPlane(dir, true, say, { node: process.argv.includes('--node') });
    say(`ready at ${handle.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    say(`  export KUBECONFIG=${handle.kubeconfig}`);
    say(`  export PATH=${handle.binDir}:$PATH   # kubectl ${KUBERNETES_VERSION}`);
    return 0;
  },
  async down() {
    const running = await runningControlPlane(dir);
    if (running) await stopControlPlane(running);
    say(running ? 'stopped' : 'not running');
    return 0;
  },
  async kubeconfig() {
    const running = await runningControlPlane(dir);
    if (!running) {
      say('not running; start it with: npm run cluster -- up');
      return 1;
    }
    process.stdout.write(`${running.kubeconfig}\n`);
    return 0;
  },
  async status() {
    const running = await runningControlPlane(dir);
    say(running ? `running at ${running.server} (supervisor pid ${running.pid})` : 'not running');
    return running ? 0 : 1;
  },
};

const name = process.argv[2] ?? '';
const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
if (command === undefined) {
  say(USAGE);
  process.exitCode = 2;
} else {
  try {
    process.exitCode = await command();
  } catch (error) {
    say(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  }
}
