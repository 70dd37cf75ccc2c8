// Starts etcd, kube-apiserver and kube-controller-manager on free loopback ports
// with generated PKI, writes an admin kubeconfig, and waits until the apiserver is
// ready. Flags follow controller-runtime's envtest. Runs inside the supervisor
// process, so every component shares the supervisor's process group.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { BinaryPaths } from './binaries.ts';
import {
  containerdArgs,
  importImages,
  kubeletArgs,
  nodePaths,
  POD_GATEWAY,
  prepareNode,
  sweepNode,
  writeKubeProxyConfig,
} from './node.ts';
import { type ControlPlanePki, writeControlPlanePki } from './pki.ts';

export interface RunningControlPlane {
  kubeconfig: string;
  server: string;
  /** Settles with the name of the first component that exits unexpectedly. */
  firstExit: Promise<string>;
  /** Stops kube-apiserver and starts it again on the same port; resolves when it is ready. */
  restartApiserver(): Promise<void>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 100;
const STOP_GRACE_MS = 5_000;
const CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'garbage-collector-controller',
  'namespace-controller',
  // Services lead somewhere (kube-proxy follows EndpointSlices), and pods get their
  // ServiceAccount's token as in any cluster: every namespace gets its `default`
  // ServiceAccount and the `kube-root-ca.crt` ConfigMap the token's volume projects.
  'endpointslice-controller',
  'serviceaccount-controller',
  'root-ca-certificate-publisher-controller',
  // PodDisruptionBudgets report what they allow, as confighash's own does.
  'disruption-controller',
];

/** With `nodeImages` (the node's image tarballs), the control plane also gets one real node. */
export async function startControlPlane(
  dir: string,
  bin: BinaryPaths,
  nodeImages?: readonly string[],
): Promise<RunningControlPlane> {
  await mkdir(join(dir, 'pki'), { recursive: true });
  const pki = await writeControlPlanePki(join(dir, 'pki'));
  await writeFile(join(dir, AUDIT_POLICY), JSON.stringify(auditPolicy()));
  await writeWebhookClientConfig(dir, pki);
  const [etcdPort, etcdPeerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'kubeconfig');
  const components = new Components(dir);
  const startApiserver = async (): Promise<void> => {
    components.start(
      'kube-apiserver',
      bin['kube-apiserver'],
      apiserverArgs(dir, pki, { etcdPort, port: apiPort, node: nodeImages !== undefined }),
    );
    await waitReady(server, pki, components.firstExit, dir);
  };
  try {
    components.start('etcd', bin.etcd, etcdArgs(dir, etcdPort, etcdPeerPort));
    await writeFile(kubeconfig, await kubeconfigYaml(server, pki), { mode: 0o600 });
    await startApiserver();
    components.start('kube-controller-manager', bin['kube-controller-manager'], [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect=false',
      '--secure-port=0',
      `--controllers=${CONTROLLERS.join(',')}`,
      `--service-account-private-key-file=${pki.serviceAccountPrivateKey}`,
      `--root-ca-file=${pki.caCert}`,
    ]);
    if (nodeImages) await startNode(components, { dir, bin, kubeconfig, ca: pki.caCert, images: nodeImages });
  } catch (error) {
    await components.stopAll();
    await sweepNode(nodePaths(dir));
    throw error;
  }
  return {
    kubeconfig,
    server,
    firstExit: components.firstExit,
    restartApiserver: async () => {
      await components.stopOne('kube-apiserver');
      await startApiserver();
    },
    stop: async () => {
      await components.stopAll();
      await sweepNode(nodePaths(dir));
    },
  };
}

/**
 * containerd, the kubelet and kube-scheduler, as components of the control plane;
 * returns once the node is Ready and schedulable (no node-lifecycle controller runs
 * here to lift the not-ready taint the kubelet registers with).
 */
async function startNode(
  components: Components,
  node: { dir: string; bin: BinaryPaths; kubeconfig: string; ca: string; images: readonly string[] },
): Promise<void> {
  const paths = nodePaths(node.dir);
  await prepareNode(paths, node.ca, await freePort());
  components.start('containerd', 'containerd', containerdArgs(paths));
  await importImages(paths, node.images);
  components.start('kube-scheduler', node.bin['kube-scheduler'], [
    `--kubeconfig=${node.kubeconfig}`,
    '--leader-elect=false',
    '--secure-port=0',
  ]);
  components.start('kubelet', node.bin.kubelet, kubeletArgs(paths, node.kubeconfig));
  const kubectl = (...args: string[]): Promise<string> => runKubectl(node.bin.kubectl, node.kubeconfig, args);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while ((await kubectl('get', 'nodes', '-o', 'name').catch(() => '')).trim() === '') {
    if (Date.now() > deadline)
      throw new Error(`the kubelet did not register its node; see ${join(node.dir, 'kubelet.log')}`);
    await delay(POLL_INTERVAL_MS);
  }
  await kubectl('wait', 'nodes', '--all', '--for=condition=Ready', `--timeout=${READY_TIMEOUT_MS / 1000}s`);
  await kubectl('taint', 'nodes', '--all', 'node.kubernetes.io/not-ready:NoSchedule-').catch(() => '');
  const [healthzPort, metricsPort] = await Promise.all([freePort(), freePort()]);
  await writeKubeProxyConfig(paths, node.kubeconfig, healthzPort, metricsPort);
  components.start('kube-proxy', node.bin['kube-proxy'], [`--config=${paths.kubeProxyConfig}`]);
  await waitKubeProxySynced(healthzPort, components.firstExit, node.dir);
}

/** kube-proxy's /healthz answers 200 once it has programmed the Services it knows. */
async function waitKubeProxySynced(port: number, firstExit: Promise<string>, dir: string): Promise<void> {
  let exited: string | undefined;
  void firstExit.then((name) => (exited = name));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) throw new Error(`${exited} exited during startup; see ${join(dir, `${exited}.log`)}`);
    if (
      await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(`kube-proxy did not sync within ${READY_TIMEOUT_MS / 1000}s; see ${join(dir, 'kube-proxy.log')}`);
}

function runKubectl(path: string, kubeconfig: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [`--kubeconfig=${kubeconfig}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`kubectl ${args.join(' ')}: ${err.trim()}`));
    });
  });
}

/** The running components, by name; an exit not asked for settles firstExit. */
class Components {
  readonly #dir: string;
  readonly #processes = new Map<string, ChildProcess>();
  readonly #stopping = new Set<string>();
  readonly firstExit: Promise<string>;
  #reportExit: (name: string) => void = () => undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.firstExit = new Promise((resolve) => (this.#reportExit = resolve));
  }

  start(name: string, path: string, args: string[]): void {
    const child = spawnLogged(name, path, args, this.#dir);
    this.#processes.set(name, child);
    child.once('exit', () => {
      if (!this.#stopping.has(name)) this.#reportExit(name);
    });
  }

  async stopOne(name: string): Promise<void> {
    const child = this.#processes.get(name);
    if (!child) return;
    this.#stopping.add(name);
    await stopAll([child]);
    this.#processes.delete(name);
    this.#stopping.delete(name);
  }

  async stopAll(): Promise<void> {
    for (const name of this.#processes.keys()) this.#stopping.add(name);
    await stopAll([...this.#processes.values()]);
  }
}

function etcdArgs(dir: string, port: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync',
    '--quota-backend-bytes=8589934592',
    '--log-level=warn',
  ];
}

/**
 * With a node, the API server also listens on the node's bridge and advertises the
 * bridge's gateway: the `kubernetes` Service leads there, which pods reach.
 */
function apiserverArgs(
  dir: string,
  pki: ControlPlanePki,
  { etcdPort, port, node }: { etcdPort: number; port: number; node: boolean },
): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--bind-address=${node ? '0.0.0.0' : '127.0.0.1'}`,
    `--advertise-address=${node ? POD_GATEWAY : '127.0.0.1'}`,
    `--secure-port=${port}`,
    `--cert-dir=${join(dir, 'apiserver')}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--authorization-mode=RBAC',
    '--service-cluster-ip-range=10.0.0.0/24',
    `--service-account-issuer=https://127.0.0.1:${port}`,
    `--service-account-key-file=${pki.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${pki.serviceAccountPrivateKey}`,
    '--allow-privileged=true',
    `--audit-policy-file=${join(dir, AUDIT_POLICY)}`,
    `--audit-log-path=${auditLogPath(dir)}`,
    '--audit-log-format=json',
    // Never rotated (the default rotates at 100 MB): the benchmarks count requests over whole runs.
    '--audit-log-maxsize=100000',
    `--admission-control-config-file=${join(dir, ADMISSION_CONFIG)}`,
    // Its client identity towards the kubelet (logs, exec, port-forward).
    `--kubelet-client-certificate=${pki.adminCert}`,
    `--kubelet-client-key=${pki.adminKey}`,
  ];
}

const ADMISSION_CONFIG = 'admission-config.json';

/**
 * The apiserver presents a client certificate to every admission webhook (the
 * kubeconfig user `*` matches any), as a cluster that authenticates itself to
 * webhooks does; a webhook that does not ask for one never sees it.
 */
async function writeWebhookClientConfig(dir: string, pki: ControlPlanePki): Promise<void> {
  const kubeconfig = join(dir, 'webhook-client.kubeconfig');
  await writeFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      users: [{ name: '*', user: { 'client-certificate': pki.webhookClientCert, 'client-key': pki.webhookClientKey } }],
    }),
  );
  const webhookConfiguration = {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'WebhookAdmissionConfiguration',
    kubeConfigFile: kubeconfig,
  };
  await writeFile(
    join(dir, ADMISSION_CONFIG),
    JSON.stringify({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: ['MutatingAdmissionWebhook', 'ValidatingAdmissionWebhook'].map((name) => ({
        name,
        configuration: webhookConfiguration,
      })),
    }),
  );
}

/** The ServiceAccount the install manifests create, under which benchmarks run confighash. */
export const CONFIGHASH_SERVICE_ACCOUNT = 'system:serviceaccount:confighash-system:confighash';
/** stakater Reloader's, in the side-by-side benchmark (bench/reloader.ts). */
export const RELOADER_SERVICE_ACCOUNT = 'system:serviceaccount:reloader:reloader';
const AUDIT_POLICY = 'audit-policy.json';

/** The audit log of the control plane in `dir`. */
export function auditLogPath(dir: string): string {
  return join(dir, 'audit.log');
}

/**
 * Every request made as confighash's ServiceAccount (or Reloader's), once, when it completes (with
 * its status code), and nothing else: the benchmarks count confighash's requests
 * from the apiserver's side.
 */
function auditPolicy(): object {
  return {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived', 'ResponseStarted'],
    rules: [{ level: 'Metadata', users: [CONFIGHASH_SERVICE_ACCOUNT, RELOADER_SERVICE_ACCOUNT] }, { level: 'None' }],
  };
}

async function kubeconfigYaml(server: string, pki: ControlPlanePki): Promise<string> {
  const base64 = async (path: string): Promise<string> => (await readFile(path)).toString('base64');
  // JSON is valid YAML, and kubectl and client libraries read either.
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'confighash-local', cluster: { server, 'certificate-authority-data': await base64(pki.caCert) } },
    ],
    users: [
      {
        name: 'confighash-admin',
        user: {
          'client-certificate-data': await base64(pki.adminCert),
          'client-key-data': await base64(pki.adminKey),
        },
      },
    ],
    contexts: [{ name: 'confighash-local', context: { cluster: 'confighash-local', user: 'confighash-admin' } }],
    'current-context': 'confighash-local',
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function spawnLogged(name: string, path: string, args: string[], dir: string): ChildProcess {
  const log = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
  const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  return child;
}

/** Polls the apiserver's /readyz until it answers 200, a component exits, or time runs out. */
async function waitReady(server: string, pki: ControlPlanePki, firstExit: Promise<string>, dir: string): Promise<void> {
  let exited: string | undefined;
  void firstExit.then((name) => (exited = name));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const tls = {
    ca: await readFile(pki.caCert),
    cert: await readFile(pki.adminCert),
    key: await readFile(pki.adminKey),
  };
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new Error(`${exited} exited during startup; see ${join(dir, `${exited}.log`)}`);
    }
    if ((await readyzStatus(`${server}/readyz`, tls)) === 200) return;
    await delay(POLL_INTERVAL_MS);
  }
  throw new Error(`kube-apiserver not ready after ${READY_TIMEOUT_MS / 1000}s; see ${dir}/kube-apiserver.log`);
}

function readyzStatus(url: string, tls: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { ...tls, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(0);
    });
    req.end();
  });
}

/** SIGTERM every component, then SIGKILL whatever is left after a grace period. */
async function stopAll(processes: ChildProcess[]): Promise<void> {
  const running = processes.filter((p) => p.exitCode === null && p.signalCode === null);
  const exited = running.map((p) => new Promise((resolve) => p.once('exit', resolve)));
  for (const p of running.reverse()) p.kill('SIGTERM');
  const graceOver = new AbortController();
  const grace = delay(STOP_GRACE_MS, 'timeout', { signal: graceOver.signal }).catch(() => 'stopped');
  const outcome = await Promise.race([Promise.all(exited), grace]);
  graceOver.abort();
  if (outcome === 'timeout') {
    for (const p of running) p.kill('SIGKILL');
    await Promise.all(exited);
  }
}

/** A loopback port that was free a moment ago (the envtest approach). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not determine a free port'));
      });
    });
  });
}
