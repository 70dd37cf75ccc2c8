// A namespace of its own for each scenario, opted in to confighash, deleted after.
import { kubectl } from '../test/support/kube.ts';

export const OPTED_IN = 'confighash.dev/enabled=true';

/**
 * Creates namespace `name` (opted in), runs `body`, and deletes the namespace whatever
 * happens, waiting until it is gone: a namespace still being deleted when the next run
 * starts hands that run its work (the comparison's reaction once ran while the previous
 * subject's fan-out namespace, 500 Deployments on one ConfigMap, was being deleted, and
 * confighash wrote 188 Events outside the reaction's namespace meanwhile).
 */
export async function inNamespace<T>(name: string, body: (namespace: string) => Promise<T>): Promise<T> {
  await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true']);
  await kubectl(['create', 'namespace', name]);
  await kubectl(['label', 'namespace', name, OPTED_IN]);
  try {
    return await body(name);
  } finally {
    await kubectl(['delete', 'namespace', name, '--wait=true', '--timeout=600s']);
  }
}
