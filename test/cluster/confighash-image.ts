// confighash's image, built here the way the Dockerfile builds it, without Docker or
// a registry: the Node.js that runs this checkout at /nodejs/bin/node with the shared
// libraries it links, and /app holding dist/ (compiled from src/), package.json and
// the production dependencies; run as 65532 with the Dockerfile's ENTRYPOINT, CMD and
// ENV. Written as an OCI archive. For the real node (confighash.dev/confighash:local,
// which the reload agent also runs from) it is cached by a hash of what goes into it,
// the previous one removed; `npm run image` builds one for users (buildImage).
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { imageRuntime } from '../support/dockerfile.ts';
import { exists, run } from './node.ts';

export const CONFIGHASH_IMAGE = 'confighash.dev/confighash:local';
const ROOT = join(import.meta.dirname, '..', '..');
const CACHE_PARENT = join(homedir(), '.cache', 'confighash');
const CACHE_PREFIX = 'confighash-image-';

/** Builds the image (unless cached) with `imagepack`; returns its tarball. */
export async function ensureConfighashImage(imagepack: string, log: (line: string) => void): Promise<string> {
  const cache = join(CACHE_PARENT, `${CACHE_PREFIX}${await inputsHash()}`);
  const tarball = join(cache, 'confighash.tar');
  if (await exists(tarball)) return tarball;
  log(`Building confighash's image for the node into ${cache}`);
  for (const entry of await readdir(CACHE_PARENT))
    if (entry.startsWith(CACHE_PREFIX)) await rm(join(CACHE_PARENT, entry), { recursive: true, force: true });
  await buildImage(imagepack, { tag: CONFIGHASH_IMAGE, out: tarball, work: cache });
  return tarball;
}

/** Builds the image tagged `tag` into the OCI archive `out`, using `work` for its files. */
export async function buildImage(
  imagepack: string,
  { tag, out, work }: { tag: string; out: string; work: string },
): Promise<void> {
  const app = join(work, 'app');
  await rm(app, { recursive: true, force: true });
  await mkdir(app, { recursive: true });
  for (const file of ['package.json', 'package-lock.json']) await copyFile(join(ROOT, file), join(app, file));
  await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {}, app);
  await run(
    join(ROOT, 'node_modules', '.bin', 'tsc'),
    ['-p', 'tsconfig.build.json', '--outDir', join(app, 'dist'), '--sourceMap', 'false'],
    {},
    ROOT,
  );
  await rm(join(app, 'package-lock.json'));
  const libraries = (await sharedLibraries(process.execPath)).map((path) => `${path}=${path}`);
  // The Dockerfile's ENTRYPOINT, CMD and ENV.
  const { nodeArgs, env, cmd } = await imageRuntime();
  const entrypoint = ['/nodejs/bin/node', ...nodeArgs, '/app/dist/cli/main.js'].join(' ');
  await run(imagepack, [
    '-tag',
    tag,
    '-out',
    out,
    '-entrypoint',
    entrypoint,
    '-cmd',
    cmd.join(' '),
    '-workdir',
    '/app',
    '-user',
    '65532:65532',
    ...Object.entries(env).flatMap(([name, value]) => ['-env', `${name}=${value}`]),
    `/nodejs/bin/node=${process.execPath}`,
    `/app=${app}`,
    ...libraries,
  ]);
}

/** What the image is made of: the sources, the dependency lock, the compiler settings, the Dockerfile's flags, the Node.js version. */
async function inputsHash(): Promise<string> {
  const hash = createHash('sha256').update(process.version).update(process.execPath);
  for (const file of [
    'Dockerfile',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    ...(await sources(join(ROOT, 'src'), 'src')),
  ]) {
    hash.update(file).update(await readFile(join(ROOT, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

async function sources(dir: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.isDirectory()) found.push(...(await sources(join(dir, entry.name), join(prefix, entry.name))));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(join(prefix, entry.name));
  }
  return found;
}

/** The shared libraries `binary` loads, the dynamic loader included, as `ldd` lists them. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run('ldd', [binary]);
  return [...out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((match) => match[1] ?? '').filter(Boolean);
}
