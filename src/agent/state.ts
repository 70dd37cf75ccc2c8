// What the agent must remember across its own restarts (an OOM kill, a crash):
// what the program last took in, as the agent verified it. Kept in a file on the
// pod's own memory-backed emptyDir, which lives as long as the pod; without it a
// restarted agent would take what is on disk as what the program runs, and report
// a reload that never happened. The digests in it are keyed with a random key
// made at the pod's first start and kept beside them, so nothing the agent writes
// anywhere is a plain hash of a configuration value.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';

export interface AgentMemory {
  /** The key of the digests (base64, 32 random bytes). */
  key: string;
  /** The configuration the program runs: loaded at the pod's start, or last reloaded (keyed digest). */
  reloadedDigest: string;
  /** When the agent first started in this pod: what was on disk then is what the program started with. */
  startedAt: string;
  reloads: number;
}

/** A new memory, for an agent starting for the first time in its pod. */
export function freshMemory(now: Date): Omit<AgentMemory, 'reloadedDigest'> {
  return { key: randomBytes(32).toString('base64'), startedAt: now.toISOString(), reloads: 0 };
}

/** The memory an earlier run of the agent in this pod left, or undefined if none (or unreadable: then the agent starts afresh). */
export async function recall(file: string): Promise<AgentMemory | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<AgentMemory>;
    const { key, reloadedDigest, startedAt, reloads } = value;
    if (
      typeof key !== 'string' ||
      typeof reloadedDigest !== 'string' ||
      typeof startedAt !== 'string' ||
      typeof reloads !== 'number'
    )
      return undefined;
    return { key, reloadedDigest, startedAt, reloads };
  } catch {
    return undefined;
  }
}

/** Written whole (a temporary file renamed over it): a kill mid-write leaves the previous memory. */
export async function remember(file: string, memory: AgentMemory): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(memory), { mode: 0o600 });
  await rename(temporary, file);
}
