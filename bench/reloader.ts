// stakater Reloader, the restart controller most teams run today, for the side-by-side
// benchmark (`npm run bench -- --compare reloader`): built from source at the release
// its docs name, into a cache outside the repo, and run on the benchmark's control
// plane under a ServiceAccount with the ClusterRole of its own manifests.
//
// The source comes from its Go module when the module proxy serves it, otherwise from
// a clone named by $CONFIGHASH_RELOADER_SOURCE (a git repository with the release tag).
// v1.4.21 pins a github.com/openshift/api version the proxy refuses; the build
// replaces it with the version github.com/openshift/client-go requires, which builds
// (only OpenShift's own types come from that module).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { goBuild } from '../test/cluster/binaries.ts';
import { serviceAccountKubeconfig } from '../test/support/install.ts';
import { kubectl } from '../test/support/kube.ts';

export const RELOADER_VERSION = 'v1.4.21';
const MODULE = 'github.com/stakater/Reloader';
/** Its ServiceAccount's, as the control plane audits it (RELOADER_SERVICE_ACCOUNT). */
const RELOADER_NAMESPACE = 'reloader';
/** Reloader's one HTTP port (metrics and /live), fixed in its code. */
const RELOADER_PORT = 9090;
const run = promisify(execFile);

function cacheDir(): string {
  return (
    process.env['CONFIGHASH_RELOADER_DIR'] ?? join(homedir(), '.cache', 'confighash', `reloader-${RELOADER_VERSION}`)
  );
}

/** The path of the Reloader binary, built first if the cache lacks it (about 3 minutes). */
export async function ensureReloader(log: (line: string) => void): Promise<string> {
  const binary = join(cacheDir(), 'reloader');
  if (
    await access(binary).then(
      () => true,
      () => false,
    )
  )
    return binary;
  log(`Building stakater Reloader ${RELOADER_VERSION} into ${cacheDir()} (a few minutes; cached afterwards).`);
  const work = await mkdtemp(join(tmpdir(), 'confighash-reloader-build-'));
  try {
    const source = await checkout(work);
    await replaceRefusedOpenshiftApi(source);
    await goBuild(
      {
        moduleDir: source,
        outDir: join(work, 'out'),
        packages: ['.'],
        ldflags: '',
        what: `Reloader ${RELOADER_VERSION}`,
        modMode: 'mod',
      },
      log,
    );
    await mkdir(cacheDir(), { recursive: true });
    await rename(join(work, 'out', 'Reloader'), binary);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return binary;
}

/** A writable copy of Reloader's source at the release. */
async function checkout(work: string): Promise<string> {
  const source = join(work, 'src');
  await mkdir(source);
  const fromProxy = await run('go', ['mod', 'download', '-json', `${MODULE}@${RELOADER_VERSION}`], { cwd: work }).then(
    ({ stdout }) => (JSON.parse(stdout) as { Dir?: string }).Dir,
    () => undefined,
  );
  if (fromProxy) {
    await run('cp', ['-R', `${fromProxy}/.`, source]);
    await run('chmod', ['-R', 'u+w', source]);
    return source;
  }
  const repository = process.env['CONFIGHASH_RELOADER_SOURCE'];
  if (!repository) {
    throw new Error(
      `the comparison needs stakater Reloader's source, and the Go module proxy does not serve ${MODULE}@${RELOADER_VERSION}.\n` +
        '  Clone it, then name the clone:\n' +
        '    git clone https://github.com/stakater/Reloader ../Reloader\n' +
        '    CONFIGHASH_RELOADER_SOURCE=../Reloader npm run bench -- --compare reloader',
    );
  }
  await run('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', repository, RELOADER_VERSION, source]);
  return source;
}

async function replaceRefusedOpenshiftApi(source: string): Promise<void> {
  const goMod = await readFile(join(source, 'go.mod'), 'utf8');
  const clientGo = /github\.com\/openshift\/client-go (\S+)/.exec(goMod)?.[1];
  if (!clientGo) return;
  const { stdout } = await run('go', ['mod', 'download', '-json', `github.com/openshift/client-go@${clientGo}`], {
    cwd: source,
  });
  const required = /github\.com\/openshift\/api (\S+)/.exec(
    await readFile((JSON.parse(stdout) as { GoMod: string }).GoMod, 'utf8'),
  )?.[1];
  if (required)
    await run('go', ['mod', 'edit', `-replace=github.com/openshift/api=github.com/openshift/api@${required}`], {
      cwd: source,
    });
}

/** Reloader's ServiceAccount and the ClusterRole of its manifests (deployments/kubernetes/manifests). */
export async function installReloaderRbac(): Promise<void> {
  const rules = [
    { apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['list', 'get', 'watch'] },
    {
      apiGroups: ['apps'],
      resources: ['deployments', 'daemonsets', 'statefulsets'],
      verbs: ['list', 'get', 'update', 'patch'],
    },
    { apiGroups: ['batch'], resources: ['cronjobs'], verbs: ['list', 'get'] },
    { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'delete', 'list', 'get'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  ];
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: RELOADER_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reloader', namespace: RELOADER_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'reloader-reloader-role' },
      rules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'reloader-reloader-role-binding' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'reloader-reloader-role' },
      subjects: [{ kind: 'ServiceAccount', name: 'reloader', namespace: RELOADER_NAMESPACE }],
    },
  ];
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
}

export interface ReloaderProcess {
  pid: number;
  logs: string[];
  /** Started, by Date.now(). */
  startedAt: number;
  stop(): Promise<void>;
}

/** Starts Reloader as its manifests run it (all namespaces, default reload strategy), logging JSON. */
export async function startReloader(binary: string): Promise<ReloaderProcess> {
  await installReloaderRbac();
  const kubeconfig = await serviceAccountKubeconfig('24h', { namespace: RELOADER_NAMESPACE, name: 'reloader' });
  const startedAt = Date.now();
  const child = spawn(binary, ['--log-format=json'], {
    env: { PATH: process.env['PATH'] ?? '', KUBECONFIG: kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    stream.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  await waitLive(child, logs);
  return { pid: child.pid ?? 0, logs, startedAt, stop: () => stopProcess(child) };
}

async function waitLive(child: ChildProcess, logs: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Reloader exited (${child.exitCode}):\n${logs.slice(-20).join('\n')}`);
    if (
      await fetch(`http://127.0.0.1:${RELOADER_PORT}/metrics`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stopProcess(child);
  throw new Error(`Reloader did not serve on port ${RELOADER_PORT} within 60s:\n${logs.slice(-20).join('\n')}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
