// Starts and stops the local control plane from the outside: builds the binaries
// if needed, spawns the supervisor in a new process group, and waits for it to
// report ready. Used by `npm run cluster` and by the test runner.
import { fork } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureBinaries } from './binaries.ts';
import { ensureConfighashImage } from './confighash-image.ts';
import { ensureImages, ensureNodePackages, nodePaths, sweepNode } from './node.ts';
import type { SupervisorMessage } from './supervisor.ts';

export interface ControlPlaneHandle {
  dir: string;
  kubeconfig: string;
  server: string;
  /** True when it has a real node (containerd, kubelet, kube-scheduler). */
  node: boolean;
  /** The supervisor's pid, which is also its process group id. */
  pid: number;
  binDir: string;
}

const SUPERVISOR = join(import.meta.dirname, 'supervisor.ts');
const STATE_FILE = 'state.json';
const STOP_TIMEOUT_MS = 15_000;
const POLL_INTERVAL_MS = 100;

/**
 * Starts a control plane whose state lives in `dir`. With `persist`, it outlives
 * this process (`npm run cluster -- up`); without, it stops when this process
 * exits, however that happens.
 */
export async function launchControlPlane(
  dir: string,
  persist: boolean,
  log: (line: string) => void,
  { node = false }: { node?: boolean } = {},
): Promise<ControlPlaneHandle> {
  const binaries = await ensureBinaries(log);
  const images = node ? await nodeImages(log) : undefined;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const supervisor = fork(SUPERVISOR, persist ? [dir, '--persist'] : [dir], {
    detached: true,
    execArgv: [],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, ...(images ? { CONFIGHASH_NODE_IMAGES: JSON.stringify(images) } : {}) },
  });
  const message = await new Promise<SupervisorMessage>((resolve, reject) => {
    supervisor.once('message', (m) => {
      resolve(m as SupervisorMessage);
    });
    supervisor.once('error', reject);
    supervisor.once('exit', (code) => {
      reject(new Error(`control plane supervisor exited (${code}); see ${dir}/supervisor.log`));
    });
  });
  if (message.status === 'failed') throw new Error(`control plane failed to start: ${message.error}`);
  if (supervisor.pid === undefined) throw new Error('control plane supervisor has no pid');
  const handle: ControlPlaneHandle = {
    dir,
    kubeconfig: message.kubeconfig,
    server: message.server,
    node,
    pid: supervisor.pid,
    binDir: binaries.dir,
  };
  await writeFile(join(dir, STATE_FILE), `${JSON.stringify(handle, null, 2)}\n`);
  if (persist) {
    supervisor.disconnect();
    supervisor.unref();
  }
  return handle;
}

/** The control plane recorded in `dir`, if its supervisor is still running. */
export async function runningControlPlane(dir: string): Promise<ControlPlaneHandle | undefined> {
  let handle: ControlPlaneHandle;
  try {
    handle = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as ControlPlaneHandle;
  } catch {
    return undefined;
  }
  return isAlive(handle.pid) ? handle : undefined;
}

/** Stops the supervisor's whole process group, and removes `dir`. */
export async function stopControlPlane(handle: ControlPlaneHandle): Promise<void> {
  signalGroup(handle.pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (isAlive(handle.pid) && Date.now() < deadline) await delay(POLL_INTERVAL_MS);
  signalGroup(handle.pid, 'SIGKILL');
  // The supervisor cleans up after the node; if it was killed first, this does.
  await sweepNode(nodePaths(handle.dir));
  await rm(handle.dir, { recursive: true, force: true });
}

async function nodeImages(log: (line: string) => void): Promise<string[]> {
  await ensureNodePackages(log);
  const { tarballs, imagepack } = await ensureImages(log);
  return [...tarballs, await ensureConfighashImage(imagepack, log)];
}

/** True while any process of the group led by `pid` is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
