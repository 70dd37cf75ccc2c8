// The image's runtime stage, reproduced without a container engine: exactly what
// the Dockerfile copies (dist/ built by tsc, production dependencies from
// `npm ci --omit=dev`, package.json) is enough to run confighash.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

describe('image runtime stage', () => {
  it('copies only dist/, production dependencies and package.json, and they run confighash', async (t) => {
    const dockerfile = await readFile(join(ROOT, 'Dockerfile'), 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    assert.deepEqual(
      [...runtime.matchAll(/^COPY (.+)$/gm)].map((m) => m[1]),
      ['--from=production-dependencies /app/node_modules ./node_modules', '--from=build /src/dist ./dist', 'package.json ./'],
    );
    assert.match(runtime, /^USER 65532:65532$/m);
    assert.match(runtime, /^ENTRYPOINT \["\/nodejs\/bin\/node", "--optimize-for-size", "--max-opt=2", "--max-semi-space-size=4", "--max-old-space-size=256", "dist\/cli\/main\.js"\]$/m);

    const app = await mkdtemp(join(tmpdir(), 'confighash-image-'));
    t.after(() => rm(app, { recursive: true, force: true }));
    for (const file of ['package.json', 'package-lock.json']) await copyFile(join(ROOT, file), join(app, file));
    // From npm's cache (the project's own `npm ci` filled it): the registry once hung this test for 5 minutes.
    await run('npm', ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app });
    await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')]);
    await rm(join(app, 'package-lock.json'));

    await assert.rejects(stat(join(app, 'node_modules', 'typescript')), 'no dev dependency in the runtime stage');
    const help = await run(process.execPath, ['dist/cli/main.js', 'run', '--help'], { cwd: app });
    assert.match(help.stdout, /^usage: confighash run \[flags\]/);
    const status = await run(process.execPath, ['dist/cli/main.js', 'status', '--help'], { cwd: app });
    assert.match(status.stdout, /^usage: confighash status/);
  });
});
