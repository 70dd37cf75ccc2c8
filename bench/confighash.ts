// confighash as the benchmarks run it: under the install manifests' ServiceAccount
// (least privilege, and its requests are audited), with leader election as in a
// cluster, and, for full runs, from dist/ with the node flags of the image.
import { join } from 'node:path';
import { type ConfighashProcess, metricValue, startConfighash } from '../test/support/confighash.ts';
import { imageRuntime } from '../test/support/dockerfile.ts';
import { installManifests, serviceAccountKubeconfig } from '../test/support/install.ts';
import type { BenchContext } from './results.ts';

const ROOT = join(import.meta.dirname, '..');
const MIB = 2 ** 20;

/** Starts confighash with extra `run` flags; the caller calls cleanup(). */
export async function startBenchConfighash(
  context: BenchContext,
  args: readonly string[] = [],
): Promise<ConfighashProcess> {
  await installManifests();
  const kubeconfig = await serviceAccountKubeconfig('24h');
  const launch = context.fromDist ? { main: join(ROOT, 'dist', 'cli', 'main.js'), ...(await imageRuntime()) } : {};
  return startConfighash([`--kubeconfig=${kubeconfig}`, '--leader-elect', '--log-level=info', ...args], launch);
}

export interface MemorySample {
  rssMiB: number;
  heapUsedMiB: number;
}

/** Resident memory and V8 heap in use, as confighash's /metrics reports them. */
export async function memory(metricsUrl: string): Promise<MemorySample> {
  const [rss, heap] = await Promise.all([
    metricValue(metricsUrl, 'process_resident_memory_bytes'),
    metricValue(metricsUrl, 'nodejs_heap_size_used_bytes'),
  ]);
  return { rssMiB: Math.round((rss / MIB) * 10) / 10, heapUsedMiB: Math.round((heap / MIB) * 10) / 10 };
}

/** Log lines at warn level or above: a benchmark that produces any reports them. */
export function problems(confighash: ConfighashProcess): string[] {
  return confighash.logs.filter((line) => /"level":(40|50|60)/.test(line));
}
