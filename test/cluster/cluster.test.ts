// The local control plane's own guarantees: the binary cache is reused, and no
// component outlives the process that launched it, however that process ends.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { waitFor } from '../support/kube.ts';
import { binaryPaths, ensureBinaries } from './binaries.ts';
import { type ControlPlaneHandle, isAlive } from './launcher.ts';

describe('local control plane lifecycle', () => {
  it('reuses cached binaries instead of rebuilding them', async () => {
    const before = await stat(binaryPaths()['kube-apiserver']);
    const logged: string[] = [];
    await ensureBinaries((line) => logged.push(line));
    assert.deepEqual(logged, []);
    assert.equal((await stat(binaryPaths()['kube-apiserver'])).mtimeMs, before.mtimeMs);
  });

  it('stops every component when the launching process is killed with SIGKILL', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-orphan-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const launcher = join(import.meta.dirname, 'launcher.ts');
    const script = `
      import { launchControlPlane } from ${JSON.stringify(launcher)};
      const handle = await launchControlPlane(${JSON.stringify(dir)}, false, () => {});
      console.log(JSON.stringify(handle));
      setInterval(() => {}, 60_000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once('line', resolve);
      child.once('exit', (code) => {
        reject(new Error(`the launching process exited (${code}) before the control plane was ready`));
      });
    });
    const handle = JSON.parse(line) as ControlPlaneHandle;
    assert.equal(isAlive(handle.pid), true);

    child.kill('SIGKILL');
    await waitFor('the control plane process group to exit', () => Promise.resolve(!isAlive(handle.pid) || undefined));
  });
});
