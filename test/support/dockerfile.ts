// How the image runs confighash, read from the Dockerfile itself: the node flags of
// its ENTRYPOINT and its ENV. The benchmarks run confighash this way, and the real
// node's image is built with them, so that neither keeps a copy that goes stale.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const DOCKERFILE = join(import.meta.dirname, '..', '..', 'Dockerfile');

export interface ImageRuntime {
  /** The flags for node before the script, e.g. `--optimize-for-size`. */
  nodeArgs: string[];
  env: Record<string, string>;
  /** The CMD: the default arguments, e.g. `run`. */
  cmd: string[];
}

/** The final stage's ENTRYPOINT flags (before dist/cli/main.js), ENV and CMD. */
export async function imageRuntime(): Promise<ImageRuntime> {
  const dockerfile = await readFile(DOCKERFILE, 'utf8');
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(runtime)?.[1];
  if (!entrypoint) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const argv = JSON.parse(entrypoint) as string[];
  const pairs = [...runtime.matchAll(/^ENV (.+)$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
  const env = Object.fromEntries(
    pairs.map((pair): [string, string] => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(runtime)?.[1] ?? '[]') as string[];
  return { nodeArgs: argv.slice(1, argv.indexOf('dist/cli/main.js')), env, cmd };
}
