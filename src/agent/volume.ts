// What a mounted configMap/secret/projected volume holds right now, read the way
// the kubelet's atomic writer makes safe: it writes a complete timestamped
// directory, then renames the `..data` symlink onto it. Reading through the
// resolved `..data` target therefore sees one whole version, never a half-written
// one; if the target is removed mid-read (the kubelet cleans up after a swap), the
// read starts over.
import { createHash, createHmac } from 'node:crypto';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { compareStrings, encode } from '../checksum/index.ts';

const DATA_LINK = '..data';
const MAX_ATTEMPTS = 5;

export interface VolumeContents {
  dir: string;
  /** The timestamped directory `..data` pointed to, or the directory itself without one. */
  version: string;
  /** File name → SHA-256 of its contents (hex). */
  files: Map<string, string>;
}

/** Reads one volume consistently; throws if it keeps changing under the read. */
export async function readVolume(dir: string): Promise<VolumeContents> {
  for (let attempt = 1; ; attempt++) {
    const version = await readlink(join(dir, DATA_LINK)).then(
      (target) => resolve(dir, target),
      () => dir,
    );
    try {
      return { dir, version, files: await digestFiles(version) };
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

/**
 * The digest of every volume's files, keyed (HMAC-SHA256 with the agent's own
 * random key): the agent compares these and never shows one, and even its state
 * file holds no plain hash of a Secret's value.
 */
export function volumesDigest(volumes: readonly VolumeContents[], key: Buffer): string {
  const fields: string[] = [];
  for (const volume of [...volumes].sort((a, b) => compareStrings(a.dir, b.dir))) {
    fields.push('volume', volume.dir);
    for (const name of [...volume.files.keys()].sort(compareStrings)) fields.push(name, volume.files.get(name) ?? '');
  }
  return createHmac('sha256', key).update(encode(fields)).digest('hex');
}

/** The kubelet's own entries (`..data`, `..2024_…`) are not configuration. */
async function digestFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('..') || entry.isDirectory()) continue;
    files.set(
      entry.name,
      createHash('sha256')
        .update(await readFile(join(dir, entry.name)))
        .digest('hex'),
    );
  }
  return files;
}
