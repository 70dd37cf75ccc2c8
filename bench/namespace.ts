// A namespace of its own for each scenario, opted in to confighash, deleted after.
import { kubectl } from '../test/support/kube.ts';

export const OPTED_IN = 'confighash.dev/enabled=true';

/** Creates namespace `name` (opted in), runs `body`, and deletes the namespace whatever happens. */
export async function inNamespace<T>(name: string, body: (namespace: string) => Promise<T>): Promise<T> {
  await kubectl(['delete', 'namespace', name, '--ignore-not-found', '--wait=true']);
  await kubectl(['create', 'namespace', name]);
  await kubectl(['label', 'namespace', name, OPTED_IN]);
  try {
    return await body(name);
  } finally {
    await kubectl(['delete', 'namespace', name, '--wait=false']);
  }
}
