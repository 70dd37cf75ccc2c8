// The local control plane's binaries (etcd, kube-apiserver, kube-controller-manager,
// kubectl, and the node's kube-scheduler and kubelet), built from the Go module in test/controlplane/ into a cache outside the
// repo, and only when that cache does not already hold this exact build.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const KUBERNETES_VERSION = 'v1.35.4';
export const COMPONENTS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kubectl',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
] as const;
export type Component = (typeof COMPONENTS)[number];
export type BinaryPaths = Record<Component, string> & { dir: string };

const MODULE_DIR = join(import.meta.dirname, '..', 'controlplane');
const STAMP_FILE = 'build-stamp.json';
const PROGRESS_INTERVAL_MS = 30_000;

/** `$CONFIGHASH_K8S_BIN_DIR`, or `~/.cache/confighash/k8s-<version>`. */
export function binaryDir(): string {
  return process.env['CONFIGHASH_K8S_BIN_DIR'] ?? join(homedir(), '.cache', 'confighash', `k8s-${KUBERNETES_VERSION}`);
}

/** Returns the binaries' paths, building them first if the cache lacks this build. */
export async function ensureBinaries(log: (line: string) => void): Promise<BinaryPaths> {
  const dir = binaryDir();
  const stamp = await buildStamp();
  if (await isCached(dir, stamp)) return binaryPaths(dir);
  log(
    `Building Kubernetes ${KUBERNETES_VERSION} binaries into ${dir}.\n` +
      'A cold build takes about 10 minutes on 2 cores; it is cached and reused afterwards.',
  );
  const staging = `${dir}.building-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await goBuild(
      {
        moduleDir: MODULE_DIR,
        outDir: staging,
        packages: COMPONENTS.map((c) => `./${c}`),
        ldflags: versionLdflags(),
        what: 'the control plane',
      },
      log,
    );
    await writeFile(join(staging, STAMP_FILE), stamp);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  log(`Built Kubernetes ${KUBERNETES_VERSION} binaries.`);
  return binaryPaths(dir);
}

export function binaryPaths(dir: string = binaryDir()): BinaryPaths {
  const paths = { dir } as BinaryPaths;
  for (const component of COMPONENTS) paths[component] = join(dir, component);
  return paths;
}

/** What a cached build must match: the version and the exact module graph. */
async function buildStamp(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(await readFile(join(MODULE_DIR, file)));
  return `${JSON.stringify({ version: KUBERNETES_VERSION, modules: hash.digest('hex') })}\n`;
}

async function isCached(dir: string, stamp: string): Promise<boolean> {
  try {
    if ((await readFile(join(dir, STAMP_FILE), 'utf8')) !== stamp) return false;
    await Promise.all(COMPONENTS.map((c) => access(join(dir, c))));
    return true;
  } catch {
    return false;
  }
}

function versionLdflags(): string {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const packages = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'];
  const vars = { gitVersion: KUBERNETES_VERSION, gitMajor: major, gitMinor: minor, gitTreeState: 'clean' };
  return packages
    .flatMap((pkg) => Object.entries(vars).map(([name, value]) => `-X ${pkg}.${name}=${value ?? ''}`))
    .join(' ');
}

export interface GoBuild {
  moduleDir: string;
  outDir: string;
  packages: readonly string[];
  ldflags: string;
  /** For messages: `the control plane`. */
  what: string;
  /** `mod` lets the build complete go.sum (a module whose go.mod was edited); else `readonly`. */
  modMode?: 'readonly' | 'mod';
}

/** Runs `go build -v`, reporting how many packages it has compiled every 30 s. */
export async function goBuild(build: GoBuild, log: (line: string) => void): Promise<void> {
  const args = [
    'build',
    '-v',
    '-trimpath',
    '-ldflags',
    `-s -w ${build.ldflags}`,
    '-o',
    `${build.outDir}/`,
    ...build.packages,
  ];
  const child = spawn('go', args, {
    cwd: build.moduleDir,
    env: {
      ...process.env,
      GOWORK: 'off',
      CGO_ENABLED: '0',
      GOTOOLCHAIN: 'local',
      GOFLAGS: `-mod=${build.modMode ?? 'readonly'}`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let compiled = 0;
  const tail: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    compiled += 1;
    tail.push(line);
    if (tail.length > 40) tail.shift();
  });
  const progress = setInterval(() => {
    log(`  go build: ${compiled} packages compiled`);
  }, PROGRESS_INTERVAL_MS);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    if (code !== 0) {
      throw new Error(
        `go build of ${build.what} failed (exit ${code ?? 'signal'}); is Go >= 1.25 on PATH?\n` + tail.join('\n'),
      );
    }
  } finally {
    clearInterval(progress);
  }
}
