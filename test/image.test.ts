// The image's runtime stage, reproduced without a container engine: exactly what
// the Dockerfile copies (dist/ built by tsc, production dependencies from
// `npm ci --omit=dev`, package.json) is enough to run confighash; and `npm run
// image` writes it as an OCI archive with the Dockerfile's user, ENTRYPOINT, CMD
// and ENV (test/e2e-node/installed.test.ts runs such an image on the node).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { imageRuntime } from './support/dockerfile.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

describe('image runtime stage', () => {
  it('copies only dist/, production dependencies and package.json, and they run confighash', async (t) => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.deepEqual(
      [...runtime.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]),
      [
        '--from=production-dependencies /app/node_modules ./node_modules',
        '--from=build /src/dist ./dist',
        'package.json ./',
      ],
    );
    assert.match(runtime, /^USER 65532:65532$/m);
    assert.match(
      runtime,
      /^ENTRYPOINT \["\/nodejs\/bin\/node", "--optimize-for-size", "--max-opt=2", "--max-semi-space-size=4", "--max-old-space-size=256", "dist\/cli\/main\.js"\]$/m,
    );

    const app = await mkdtemp(join(tmpdir(), 'confighash-image-'));
    t.after(() => rm(app, { recursive: true, force: true }));
    for (const file of ['package.json', 'package-lock.json']) await copyFile(join(ROOT, file), join(app, file));
    // From npm's cache (the project's own `npm ci` filled it): the registry once hung this test for 5 minutes.
    await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: app,
    });
    await run(process.execPath, [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      join(app, 'dist'),
    ]);
    await rm(join(app, 'package-lock.json'));

    await assert.rejects(stat(join(app, 'node_modules', 'typescript')), 'no dev dependency in the runtime stage');
    const help = await run(process.execPath, ['dist/cli/main.js', 'run', '--help'], { cwd: app });
    assert.match(help.stdout, /^usage: confighash run \[flags\]/);
    const status = await run(process.execPath, ['dist/cli/main.js', 'status', '--help'], { cwd: app });
    assert.match(status.stdout, /^usage: confighash status/);
  });

  it('npm run image writes an OCI archive of it, configured as the Dockerfile configures it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-image-archive-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const out = join(dir, 'confighash.oci.tar');
    await run('npm', ['run', '-s', 'image', '--', '--tag', 'registry.example.test/confighash:1.2.3', '--out', out], {
      cwd: ROOT,
    });
    const member = async (name: string): Promise<string> =>
      (await run('tar', ['-xOf', out, name], { maxBuffer: 256 * 1024 * 1024 })).stdout;
    assert.deepEqual(JSON.parse(await member('oci-layout')), { imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(await member('index.json')) as {
      manifests: { mediaType: string; digest: string; annotations: Record<string, string> }[];
    };
    assert.equal(index.manifests.length, 1);
    const [entry] = index.manifests;
    assert.equal(entry?.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.deepEqual(entry.annotations, {
      'io.containerd.image.name': 'registry.example.test/confighash:1.2.3',
      'org.opencontainers.image.ref.name': '1.2.3',
    });
    const blob = (digest: string): Promise<string> => member(`blobs/sha256/${digest.slice('sha256:'.length)}`);
    const manifest = JSON.parse(await blob(entry.digest)) as { config: { digest: string } };
    const { config } = JSON.parse(await blob(manifest.config.digest)) as {
      config: { User: string; Entrypoint: string[]; Cmd: string[]; Env: string[]; WorkingDir: string };
    };
    const { nodeArgs, env, cmd } = await imageRuntime();
    assert.equal(config.User, '65532:65532');
    assert.equal(config.WorkingDir, '/app');
    assert.deepEqual(config.Entrypoint, ['/nodejs/bin/node', ...nodeArgs, '/app/dist/cli/main.js']);
    assert.deepEqual(config.Cmd, cmd);
    assert.deepEqual(cmd, ['run']);
    for (const [name, value] of Object.entries(env))
      assert.ok(config.Env.includes(`${name}=${value}`), `${name}=${value}`);
  });
});
