// `npm run cluster -- up|down|kubeconfig|status`: the local control plane for
// development, kept in .cluster/ at the repository root (or $CONFIGHASH_CLUSTER_DIR);
// `up --node --install` also installs confighash in it from its image.
import { delimiter, join } from 'node:path';
import { KUBERNETES_VERSION } from './binaries.ts';
import { ensureHelm } from './helm.ts';
import { install, INSTALL_METHODS, type InstallMethod } from './in-cluster.ts';
import { launchControlPlane, runningControlPlane, stopControlPlane } from './launcher.ts';

const USAGE = `usage: npm run cluster -- <command>

  up          start etcd, kube-apiserver and kube-controller-manager on loopback;
              returns when the apiserver is ready (builds the binaries if needed)
  up --node   also one real node: containerd, kubelet, kube-proxy and kube-scheduler
              (needs root; installs containerd, runc and the CNI plugins with apt-get
              if absent)
  up --node --install[=kustomize|helm]
              also confighash, from its image built here, installed with
              kubectl apply -k manifests/overlays/local (default) or helm install
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
    const node = process.argv.includes('--node');
    const method = installMethod();
    if (method && !node) {
      say('--install needs --node: confighash runs on the node');
      return 2;
    }
    const running = await runningControlPlane(dir);
    if (running) {
      say(`already running at ${running.server}`);
      return 0;
    }
    const started = Date.now();
    const handle = await launchControlPlane(dir, true, say, { node });
    say(`ready at ${handle.server} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    if (method) {
      process.env['KUBECONFIG'] = handle.kubeconfig;
      process.env['PATH'] = [
        handle.binDir,
        ...(method === 'helm' ? [await ensureHelm(say)] : []),
        process.env['PATH'] ?? '',
      ].join(delimiter);
      say(
        `installing confighash (${method === 'kustomize' ? 'kubectl apply -k manifests/overlays/local' : 'helm install confighash charts/confighash'})`,
      );
      await install(method);
      say(
        'confighash is installed: two replicas Ready, its webhook registered (kubectl get pods -n confighash-system)',
      );
    }
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

/** `--install` or `--install=kustomize|helm`; undefined without it. */
function installMethod(): InstallMethod | undefined {
  const flag = process.argv.find((arg) => arg === '--install' || arg.startsWith('--install='));
  if (flag === undefined) return undefined;
  const method = flag === '--install' ? 'kustomize' : flag.slice('--install='.length);
  if (!(INSTALL_METHODS as readonly string[]).includes(method))
    throw new Error(`--install takes ${INSTALL_METHODS.join(' or ')}, not "${method}"`);
  return method as InstallMethod;
}

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
