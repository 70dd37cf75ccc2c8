// The control plane's supervisor: a process of its own, leading a process group
// that holds every component, so that stopping the group stops everything.
// Started by launcher.ts with an IPC channel. It reports readiness over that
// channel; unless started with --persist it also stops the control plane when the
// channel closes, which happens when the launching process dies in any way.
// SIGUSR2 restarts kube-apiserver (for tests of clients that must survive that);
// the supervisor writes `apiserver-restarts` in its directory when it is back.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryPaths } from './binaries.ts';
import { startControlPlane } from './controlplane.ts';

export type SupervisorMessage =
  { status: 'ready'; kubeconfig: string; server: string } | { status: 'failed'; error: string };

const [dir, mode] = process.argv.slice(2);
/** The node's image tarballs, when the control plane gets a node. */
const nodeImages = process.env['CONFIGHASH_NODE_IMAGES']
  ? (JSON.parse(process.env['CONFIGHASH_NODE_IMAGES']) as string[])
  : undefined;
if (dir === undefined || process.send === undefined) {
  throw new Error('usage: supervisor.ts DIR [--persist], started by launcher.ts with an IPC channel');
}
const log = (line: string): void => {
  appendFileSync(join(dir, 'supervisor.log'), `${new Date().toISOString()} ${line}\n`);
};
const send = (message: SupervisorMessage): void => {
  if (process.connected) process.send?.(message);
};

try {
  const controlPlane = await startControlPlane(dir, binaryPaths(), nodeImages);
  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${reason}`);
    await controlPlane.stop();
    process.exit(0);
  };
  let restarts = 0;
  process.on('SIGUSR2', () => {
    log('restarting kube-apiserver');
    controlPlane
      .restartApiserver()
      .then(() => {
        restarts += 1;
        writeFileSync(join(dir, 'apiserver-restarts'), `${restarts}\n`);
        log('kube-apiserver restarted');
      })
      .catch((error: unknown) => shutdown(`kube-apiserver did not come back: ${String(error)}`));
  });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  if (mode !== '--persist') process.on('disconnect', () => void shutdown('launcher went away'));
  void controlPlane.firstExit.then((name) => shutdown(`${name} exited; see ${join(dir, `${name}.log`)}`));
  log(`ready at ${controlPlane.server}`);
  send({ status: 'ready', kubeconfig: controlPlane.kubeconfig, server: controlPlane.server });
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  log(`failed: ${message}`);
  send({ status: 'failed', error: message });
  process.exit(1);
}
