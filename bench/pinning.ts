// CPU pinning for the admission benchmark, so that its figures say what confighash
// costs rather than what it costs while sharing cores with the control plane and
// the load: confighash on the last CPU, the control plane and this process (the
// load generator, and every kubectl it starts) on the others.
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import type { ControlPlaneHandle } from '../test/cluster/launcher.ts';

const run = promisify(execFile);

function controlPlane(): ControlPlaneHandle {
  const json = process.env['CONFIGHASH_TEST_CONTROL_PLANE'];
  if (!json) throw new Error('pinning needs the control plane the benchmark started: run it with `npm run bench`');
  return JSON.parse(json) as ControlPlaneHandle;
}

/** Every process of the control plane: its supervisor leads their process group. */
async function controlPlanePids(): Promise<number[]> {
  const { stdout } = await run('ps', ['-o', 'pid=', '-g', String(controlPlane().pid)]);
  return stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => pid > 0);
}

async function pin(pids: readonly number[], cpus: string): Promise<void> {
  // -a: every thread (Go's and node's workers included), not only the main one.
  for (const pid of pids) await run('taskset', ['-a', '-p', '-c', cpus, String(pid)]).catch(() => undefined);
}

export interface Pinning {
  confighashCpus: string;
  othersCpus: string;
  /** Lets every process run on every CPU again. */
  undo(): Promise<void>;
}

/** Pins confighash (`pid`) apart from everything else; needs at least two CPUs. */
export async function pinApart(pid: number): Promise<Pinning> {
  const cpus = availableParallelism();
  if (cpus < 2) throw new Error(`pinning needs two CPUs or more; this machine has ${cpus}`);
  const all = `0-${cpus - 1}`;
  const confighashCpus = String(cpus - 1);
  const othersCpus = cpus === 2 ? '0' : `0-${cpus - 2}`;
  const others = [...(await controlPlanePids()), process.pid];
  await pin(others, othersCpus);
  await pin([pid], confighashCpus);
  return {
    confighashCpus,
    othersCpus,
    undo: async () => {
      await pin([...(await controlPlanePids()), process.pid, pid], all);
    },
  };
}
