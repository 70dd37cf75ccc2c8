// The machine a benchmark ran on, recorded with every result.
import { cpus, release, totalmem } from 'node:os';
import { KUBERNETES_VERSION } from '../test/cluster/binaries.ts';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  kubernetes: string;
}

export function describeMachine(): Machine {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `Linux ${release()}`,
    node: process.version,
    kubernetes: KUBERNETES_VERSION,
  };
}
