// Installs confighash's RBAC and ServiceAccount from the install manifests for
// real, and gives a kubeconfig with that ServiceAccount's token, so that
// confighash can run next to the control plane exactly as privileged as in a cluster.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIGHASH_NAMESPACE } from './confighash.ts';
import { kubectl } from './kube.ts';

const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests');

/** `kubectl apply -k manifests/`; returns what removes it again. */
export async function installManifests(): Promise<() => Promise<void>> {
  await kubectl(['apply', '-k', MANIFESTS]);
  return async () => {
    await kubectl(['delete', 'clusterrole,clusterrolebinding', 'confighash', '--ignore-not-found']);
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash', '--ignore-not-found']);
    await kubectl([
      'delete', '-n', CONFIGHASH_NAMESPACE, '--ignore-not-found',
      'deployment,service,poddisruptionbudget,networkpolicy,role,rolebinding,serviceaccount', 'confighash',
    ]);
  };
}

/**
 * The namespaced overlay, for `namespace` in place of its placeholder `my-app`,
 * applied for real; returns what removes it again.
 */
export async function installNamespaced(namespace: string): Promise<() => Promise<void>> {
  const rendered = (await kubectl(['kustomize', join(MANIFESTS, 'overlays', 'namespaced')])).replaceAll('my-app', namespace);
  await kubectl(['apply', '-f', '-'], rendered);
  return async () => {
    await kubectl(['delete', 'clusterrole,clusterrolebinding', 'confighash-webhook', '--ignore-not-found']);
    await kubectl(['delete', '-n', namespace, 'role,rolebinding', 'confighash', '--ignore-not-found']);
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash', '--ignore-not-found']);
    await kubectl([
      'delete', '-n', CONFIGHASH_NAMESPACE, '--ignore-not-found',
      'deployment,service,poddisruptionbudget,networkpolicy,role,rolebinding,serviceaccount', 'confighash',
    ]);
  };
}

/** A kubeconfig with a token of the manifests' ServiceAccount (TokenRequest API), valid for `duration`. */
export async function serviceAccountKubeconfig(duration = '1h'): Promise<string> {
  const token = (await kubectl(['create', 'token', 'confighash', '-n', CONFIGHASH_NAMESPACE, `--duration=${duration}`])).trim();
  const admin = JSON.parse(await kubectl(['config', 'view', '--raw', '-o', 'json'])) as { clusters: { cluster: object }[] };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: admin.clusters[0]?.cluster }],
    users: [{ name: 'confighash', user: { token } }],
    contexts: [{ name: 'confighash', context: { cluster: 'local', user: 'confighash' } }],
    'current-context': 'confighash',
  };
  const path = join(tmpdir(), `confighash-sa-${process.pid}.kubeconfig`);
  await writeFile(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}
