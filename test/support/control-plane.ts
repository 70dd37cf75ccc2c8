// The control plane the test run started (test/run.ts passes its handle), for
// tests that must disturb it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlPlaneHandle } from '../cluster/launcher.ts';
import { waitFor } from './kube.ts';

function handle(): ControlPlaneHandle {
  const json = process.env['CONFIGHASH_TEST_CONTROL_PLANE'];
  if (!json) {
    throw new Error(
      'this test restarts kube-apiserver: run it with `npm test` on a control plane it started, or on `npm run cluster -- up`',
    );
  }
  return JSON.parse(json) as ControlPlaneHandle;
}

/** Restarts kube-apiserver (SIGUSR2 to the supervisor) and waits until it is ready again. */
export async function restartApiserver(): Promise<void> {
  const { pid, dir } = handle();
  const count = async (): Promise<number> =>
    Number(await readFile(join(dir, 'apiserver-restarts'), 'utf8').catch(() => '0'));
  const before = await count();
  process.kill(pid, 'SIGUSR2');
  await waitFor('kube-apiserver to restart', async () => (await count()) > before || undefined, 90_000);
}
