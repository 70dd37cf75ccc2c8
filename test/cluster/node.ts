// The local control plane's one real node: containerd and runc from Debian's
// packages, a bridge CNI network, a kubelet and kube-scheduler built with the
// control plane, and images built here from test/node/ (no registry). Everything
// it writes lives in DIR/node, except what the kubelet, containerd and the bridge
// plugin change on the host; sweepNode() undoes all of it, from the state
// recorded before the node started, even when the supervisor was killed.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Debian packages the node needs, and a file that proves each is installed. */
const PACKAGES: [name: string, proof: string][] = [
  ['containerd', '/usr/bin/containerd'],
  ['runc', '/usr/sbin/runc'],
  ['containernetworking-plugins', '/usr/lib/cni/bridge'],
  ['iptables', '/usr/sbin/iptables'],
  ['conntrack', '/usr/sbin/conntrack'],
  ['socat', '/usr/bin/socat'],
];
const CNI_BIN_DIR = '/usr/lib/cni';
const BRIDGE = 'chbr0';
/**
 * Where the bridge plugin assigns pod addresses: the node's own bridge network, created
 * by this run. Tests and the demo reach pods by port-forward and exec; the only traffic
 * to pod addresses is the API server calling confighash's webhook through its Service,
 * as in any cluster.
 */
export const POD_SUBNET = '10.244.0.0/24';
/**
 * The host's address on the bridge (host-local's gateway: the subnet's first address).
 * The API server advertises it as the `kubernetes` Service's endpoint, so that pods
 * reach the API server through that Service with their ServiceAccount's token
 * (an endpoint may not be a loopback address).
 */
export const POD_GATEWAY = '10.244.0.1';
/** Pods' cgroups go below this one, so the sweep finds every container process. */
const CGROUP_ROOT = '/confighash-node';
/** Host settings the kubelet and the bridge plugin change; the sweep puts them back. */
const SYSCTLS = [
  'vm/overcommit_memory',
  'kernel/panic',
  'kernel/panic_on_oops',
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/route_localnet',
];
/** Host paths created outside DIR; removed by the sweep if they did not exist before. */
const HOST_PATHS = ['/run/containerd', '/run/netns', '/var/log/containers', '/var/log/pods', '/var/lib/kubelet'];

export const IMAGES = { pause: 'confighash.dev/pause:e2e', testapp: 'confighash.dev/testapp:e2e' } as const;
/**
 * The node registers with this taint: only pods that tolerate it run there. Every
 * other test's pods stay Pending as without a node, so the kubelet never tries to
 * pull their images from a registry (there is no network) and does no needless work.
 */
export const NODE_TAINT = { key: 'confighash.dev/local-node', value: 'true', effect: 'NoSchedule' } as const;
export const NODE_TOLERATION = {
  key: NODE_TAINT.key,
  operator: 'Equal',
  value: NODE_TAINT.value,
  effect: NODE_TAINT.effect,
} as const;
const NODE_MODULE = join(import.meta.dirname, '..', 'node');

export interface NodePaths {
  dir: string;
  socket: string;
  containerdConfig: string;
  kubeletConfig: string;
  kubeProxyConfig: string;
  state: string;
}

export function nodePaths(clusterDir: string): NodePaths {
  const dir = join(clusterDir, 'node');
  return {
    dir,
    socket: join(dir, 'containerd', 'containerd.sock'),
    containerdConfig: join(dir, 'containerd.toml'),
    kubeletConfig: join(dir, 'kubelet.yaml'),
    kubeProxyConfig: join(dir, 'kube-proxy.yaml'),
    state: join(dir, 'host-state.json'),
  };
}

/** Installs the Debian packages the node needs, saying what it installs; fails clearly where it cannot. */
export async function ensureNodePackages(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const [name, proof] of PACKAGES) if (!(await exists(proof))) missing.push(name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the node needs these Debian packages, and installing them needs root: ${missing.join(' ')}`);
  }
  log(`Installing Debian packages for the node: ${missing.join(' ')}`);
  await run('apt-get', ['update', '-qq']);
  await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    DEBIAN_FRONTEND: 'noninteractive',
  });
}

/** Builds the node's images from test/node/ into a cache keyed by their sources; returns the tarballs, and imagepack. */
export async function ensureImages(log: (line: string) => void): Promise<{ tarballs: string[]; imagepack: string }> {
  const hash = createHash('sha256');
  for (const file of await sourceFiles(NODE_MODULE)) hash.update(file).update(await readFile(join(NODE_MODULE, file)));
  const cache = join(homedir(), '.cache', 'confighash', `node-images-${hash.digest('hex').slice(0, 16)}`);
  const tarballs = Object.keys(IMAGES).map((name) => join(cache, `${name}.tar`));
  const imagepack = join(cache, 'bin', 'imagepack');
  if ((await Promise.all([...tarballs, imagepack].map(exists))).every(Boolean)) return { tarballs, imagepack };
  log(`Building the node's images (pause, testapp) into ${cache}`);
  const bin = join(cache, 'bin');
  await mkdir(bin, { recursive: true });
  await run(
    'go',
    ['build', '-trimpath', '-ldflags', '-s -w', '-o', `${bin}/`, './pause', './testapp', './imagepack'],
    { CGO_ENABLED: '0', GOWORK: 'off', GOFLAGS: '-mod=readonly' },
    NODE_MODULE,
  );
  for (const [name, tag] of Object.entries(IMAGES)) {
    await run(imagepack, [
      '-tag',
      tag,
      '-out',
      join(cache, `${name}.tar`),
      '-entrypoint',
      `/${name}`,
      `${name}=${join(bin, name)}`,
    ]);
  }
  return { tarballs, imagepack };
}

/** Records the host state the node will change, and writes the node's configuration. */
export async function prepareNode(paths: NodePaths, ca: string, kubeletPort: number): Promise<void> {
  await mkdir(join(paths.dir, 'cni', 'net.d'), { recursive: true });
  const sysctls: Record<string, string> = {};
  for (const key of SYSCTLS) sysctls[key] = (await readFile(join('/proc/sys', key), 'utf8')).trim();
  const absent = [];
  for (const path of HOST_PATHS) if (!(await exists(path))) absent.push(path);
  const iptables = await capture('iptables-save', []);
  await writeFile(paths.state, JSON.stringify({ sysctls, absent, iptables }));
  // The kubelet places pods below its cgroupRoot, which must exist in every hierarchy.
  for (const controller of await cgroupControllers())
    await mkdir(join('/sys/fs/cgroup', controller, CGROUP_ROOT), { recursive: true });
  await writeFile(paths.containerdConfig, containerdConfig(paths));
  await writeFile(join(paths.dir, 'cni', 'net.d', '10-confighash.conflist'), cniConfig(paths));
  await writeFile(paths.kubeletConfig, kubeletConfig(paths, ca, kubeletPort));
}

export function containerdArgs(paths: NodePaths): string[] {
  return ['--config', paths.containerdConfig];
}

export function kubeletArgs(paths: NodePaths, kubeconfig: string): string[] {
  return [
    `--config=${paths.kubeletConfig}`,
    `--kubeconfig=${kubeconfig}`,
    `--root-dir=${join(paths.dir, 'kubelet')}`,
    `--cert-dir=${join(paths.dir, 'kubelet', 'pki')}`,
    // The API server reaches the kubelet by the node's name, which resolves to 127.0.0.1
    // (a loopback --node-ip is refused).
    `--hostname-override=${hostname()}`,
  ];
}

/**
 * kube-proxy in iptables mode, as a cluster runs it on each node: Services' cluster
 * addresses lead to their endpoints, for pods and for the host (the API server calling
 * a webhook by Service). It changes no conntrack setting and opens no NodePort on
 * loopback; its health and metrics ports are on loopback.
 */
export async function writeKubeProxyConfig(
  paths: NodePaths,
  kubeconfig: string,
  healthzPort: number,
  metricsPort: number,
): Promise<void> {
  await writeFile(
    paths.kubeProxyConfig,
    `${JSON.stringify({
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      clientConnection: { kubeconfig },
      hostnameOverride: hostname(),
      mode: 'iptables',
      clusterCIDR: POD_SUBNET,
      healthzBindAddress: `127.0.0.1:${healthzPort}`,
      metricsBindAddress: `127.0.0.1:${metricsPort}`,
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      iptables: { localhostNodePorts: false },
    })}\n`,
  );
}

/** Imports the images into containerd once it answers. */
export async function importImages(paths: NodePaths, tarballs: readonly string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await exists(paths.socket))) {
    if (Date.now() > deadline)
      throw new Error(`containerd did not start; see ${join(paths.dir, '..', 'containerd.log')}`);
    await delay(100);
  }
  for (const tarball of tarballs)
    await run('ctr', ['--address', paths.socket, '-n', 'k8s.io', 'images', 'import', tarball]);
}

/**
 * Undoes everything the node did to the host: kills every container process (by
 * its cgroup) and containerd's shims, unmounts what is mounted below DIR and the
 * network namespaces, removes the bridge and the cgroups, and restores the
 * sysctls, iptables and host paths recorded before the node started. Idempotent.
 */
export async function sweepNode(paths: NodePaths): Promise<void> {
  let state: { sysctls: Record<string, string>; absent: string[]; iptables: string };
  try {
    state = JSON.parse(await readFile(paths.state, 'utf8')) as typeof state;
  } catch {
    return; // No node was started here.
  }
  await killCgroupProcesses();
  await killProcessesMentioning(paths.dir);
  await unmountBelow([paths.dir, '/run/netns/cni-', '/run/containerd/']);
  await run('ip', ['link', 'delete', BRIDGE]).catch(() => undefined);
  await removeCgroups();
  for (const [key, value] of Object.entries(state.sysctls))
    await writeFile(join('/proc/sys', key), value).catch(() => undefined);
  await runWithInput('iptables-restore', [], state.iptables).catch(() => undefined);
  for (const path of state.absent) await rm(path, { recursive: true, force: true });
  await rm(paths.state, { force: true });
}

/** What `down` must find afterwards: nothing of the node on the host. */
export async function nodeLeftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mounts.split('\n')) {
    const point = line.split(' ')[4] ?? '';
    if (point.startsWith(dir) || point.startsWith('/run/netns/cni-')) found.push(`mount ${point}`);
  }
  if ((await capture('ip', ['-o', 'link', 'show'])).includes(`${BRIDGE}:`)) found.push(`interface ${BRIDGE}`);
  for (const pid of await processesMentioning(dir)) found.push(`process ${pid}`);
  for (const controller of await cgroupControllers()) {
    if (await exists(join('/sys/fs/cgroup', controller, CGROUP_ROOT))) found.push(`cgroup ${controller}${CGROUP_ROOT}`);
  }
  return found;
}

function containerdConfig(paths: NodePaths): string {
  return `version = 2
root = "${join(paths.dir, 'containerd', 'root')}"
state = "${join(paths.dir, 'containerd', 'state')}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${paths.socket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${IMAGES.pause}"
  # This VM withholds CAP_SYS_RESOURCE: without it, runc fails to set oom_score_adj.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${join(paths.dir, 'cni', 'net.d')}"
`;
}

function cniConfig(paths: NodePaths): string {
  return `${JSON.stringify({
    cniVersion: '1.0.0',
    name: 'confighash',
    plugins: [
      {
        type: 'bridge',
        bridge: BRIDGE,
        isGateway: true,
        ipMasq: false,
        // The default route leads to the bridge's gateway (the host), where kube-proxy's rules lead Services on.
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: POD_SUBNET }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: join(paths.dir, 'cni', 'ipam'),
        },
      },
    ],
  })}\n`;
}

function kubeletConfig(paths: NodePaths, ca: string, port: number): string {
  return `${JSON.stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: '127.0.0.1',
    port,
    readOnlyPort: 0,
    healthzPort: 0,
    containerRuntimeEndpoint: `unix://${paths.socket}`,
    // This host mounts cgroup v1.
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: CGROUP_ROOT,
    failSwapOn: false,
    // Mounted configuration reaches running pods in seconds, not the default minute.
    syncFrequency: '5s',
    configMapAndSecretChangeDetectionStrategy: 'Watch',
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: { clientCAFile: ca } },
    authorization: { mode: 'AlwaysAllow' },
    makeIPTablesUtilChains: false,
    volumePluginDir: join(paths.dir, 'volume-plugins'),
    podLogsDir: join(paths.dir, 'pod-logs'),
    // The images exist only here: never collect them, and never evict for a full disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    enforceNodeAllocatable: [],
    resolvConf: '',
    registerWithTaints: [NODE_TAINT],
  })}\n`;
}

async function cgroupControllers(): Promise<string[]> {
  return (await readdir('/sys/fs/cgroup').catch(() => [])).filter((name) => !name.includes(','));
}

/** Every process in the pods' cgroups (containers, including the sandboxes). */
async function killCgroupProcesses(): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const pids = await cgroupProcesses();
    if (pids.size === 0) return;
    for (const pid of pids) killQuietly(pid);
    await delay(100);
  }
}

async function cgroupProcesses(): Promise<Set<number>> {
  const files: string[] = [];
  for (const controller of await cgroupControllers())
    files.push(...(await findFiles(join('/sys/fs/cgroup', controller, CGROUP_ROOT), 'cgroup.procs')));
  const pids = new Set<number>();
  for (const file of files) {
    for (const pid of (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean)) pids.add(Number(pid));
  }
  return pids;
}

async function removeCgroups(): Promise<void> {
  for (const controller of await cgroupControllers()) {
    const root = join('/sys/fs/cgroup', controller, CGROUP_ROOT);
    const dirs = (await findDirs(root)).sort((a, b) => b.length - a.length);
    for (const dir of dirs) await rmdir(dir).catch(() => undefined);
  }
}

async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(join('/proc', entry, 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(Number(entry));
  }
  return found;
}

/** containerd, its shims and the kubelet: each names a path below DIR on its command line. */
async function killProcessesMentioning(text: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = await processesMentioning(text);
    if (pids.length === 0) return;
    for (const pid of pids) killQuietly(pid, round < 20 ? 'SIGTERM' : 'SIGKILL');
    await delay(100);
  }
}

async function unmountBelow(prefixes: readonly string[]): Promise<void> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => prefixes.some((prefix) => point.startsWith(prefix)))
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) await run('umount', ['-l', point]).catch(() => undefined);
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

async function findFiles(dir: string, name: string): Promise<string[]> {
  return (await findDirs(dir)).map((d) => join(d, name));
}

async function findDirs(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  const found = [dir];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isDirectory()) found.push(...(await findDirs(join(dir, entry.name))));
  }
  return found;
}

async function sourceFiles(dir: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) files.push(...(await sourceFiles(dir, path)));
    else if (/\.(go|mod|sum)$/.test(entry.name)) files.push(path);
  }
  return files;
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export function run(
  command: string,
  args: readonly string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: { ...process.env, ...env }, cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      },
    );
  });
}

function capture(command: string, args: readonly string[]): Promise<string> {
  return run(command, args).catch(() => '');
}

function runWithInput(command: string, args: readonly string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command}: ${stderr.trim()}`));
    });
    child.stdin.end(input);
  });
}
