// Helm, for the chart's tests (charts/confighash): built from its Go module in
// test/helm/ into a cache outside the repo, the way the control plane is built,
// and only when that cache does not already hold this exact build (about 2.5
// minutes on 2 cores).
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { goBuild } from './binaries.ts';

export const HELM_VERSION = 'v3.22.0';
const MODULE_DIR = join(import.meta.dirname, '..', 'helm');
const STAMP_FILE = 'build-stamp.json';

/** `$CONFIGHASH_HELM_DIR`, or `~/.cache/confighash/helm-<version>`. */
export function helmDir(): string {
  return process.env['CONFIGHASH_HELM_DIR'] ?? join(homedir(), '.cache', 'confighash', `helm-${HELM_VERSION}`);
}

/** The directory holding `helm`, built first if the cache lacks this build. */
export async function ensureHelm(log: (line: string) => void): Promise<string> {
  const dir = helmDir();
  const hash = createHash('sha256');
  for (const file of ['go.mod', 'go.sum']) hash.update(await readFile(join(MODULE_DIR, file)));
  const stamp = `${JSON.stringify({ version: HELM_VERSION, modules: hash.digest('hex') })}\n`;
  const cached = await readFile(join(dir, STAMP_FILE), 'utf8').catch(() => '');
  if (
    cached === stamp &&
    (await access(join(dir, 'helm')).then(
      () => true,
      () => false,
    ))
  )
    return dir;
  log(`Building Helm ${HELM_VERSION} into ${dir} (about 3 minutes; cached afterwards).`);
  const staging = `${dir}.building-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const ldflags = `-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`;
    await goBuild(
      { moduleDir: MODULE_DIR, outDir: staging, packages: ['helm.sh/helm/v3/cmd/helm'], ldflags, what: 'Helm' },
      log,
    );
    await writeFile(join(staging, STAMP_FILE), stamp);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  log(`Built Helm ${HELM_VERSION}.`);
  return dir;
}
