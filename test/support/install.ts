// Installs confighash's RBAC and ServiceAccount from the install manifests for
// real, and gives a kubeconfig with that ServiceAccount's token, so that
// confighash can run next to the control plane exactly as privileged as in a cluster.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIGHASH_NAMESPACE } from './confighash.ts';
import { kubectl, run } from './kube.ts';

const MANIFESTS = join(import.meta.dirname, '..', '..', 'manifests');
const CHART = join(import.meta.dirname, '..', '..', 'charts', 'confighash');
const RBAC_EXPECTATIONS = join(import.meta.dirname, '..', 'e2e', 'rbac-expectations.json');

/** `kubectl apply -k manifests/`; returns what removes it again. */
export async function installManifests(): Promise<() => Promise<void>> {
  await kubectl(['apply', '-k', MANIFESTS]);
  return removeManifestsInstall;
}

/** Deletes what `kubectl apply -k manifests/` created, but the namespace (other tests' confighash runs there). */
async function removeManifestsInstall(): Promise<void> {
  await kubectl(['delete', 'clusterrole,clusterrolebinding', 'confighash', '--ignore-not-found']);
  await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash', '--ignore-not-found']);
  await kubectl([
    'delete',
    '-n',
    CONFIGHASH_NAMESPACE,
    '--ignore-not-found',
    'deployment,service,poddisruptionbudget,networkpolicy,role,rolebinding,serviceaccount',
    'confighash',
  ]);
}

/**
 * The namespaced overlay, for `namespace` in place of its placeholder `my-app`,
 * applied for real; returns what removes it again.
 */
export async function installNamespaced(namespace: string): Promise<() => Promise<void>> {
  const rendered = (await kubectl(['kustomize', join(MANIFESTS, 'overlays', 'namespaced')])).replaceAll(
    'my-app',
    namespace,
  );
  await kubectl(['apply', '-f', '-'], rendered);
  return async () => {
    await kubectl(['delete', 'clusterrole,clusterrolebinding', 'confighash-webhook', '--ignore-not-found']);
    await kubectl(['delete', '-n', namespace, 'role,rolebinding', 'confighash', '--ignore-not-found']);
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash', '--ignore-not-found']);
    await kubectl([
      'delete',
      '-n',
      CONFIGHASH_NAMESPACE,
      '--ignore-not-found',
      'deployment,service,poddisruptionbudget,networkpolicy,role,rolebinding,serviceaccount',
      'confighash',
    ]);
  };
}

/**
 * A kubeconfig with a token of a ServiceAccount (TokenRequest API), valid for
 * `duration`: the manifests' own unless `account` names another.
 */
export async function serviceAccountKubeconfig(
  duration = '1h',
  account = { namespace: CONFIGHASH_NAMESPACE, name: 'confighash' },
): Promise<string> {
  const { namespace, name } = account;
  const token = (await kubectl(['create', 'token', name, '-n', namespace, `--duration=${duration}`])).trim();
  const admin = JSON.parse(await kubectl(['config', 'view', '--raw', '-o', 'json'])) as {
    clusters: { cluster: object }[];
  };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: admin.clusters[0]?.cluster }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: 'local', user: name } }],
    'current-context': name,
  };
  const path = join(tmpdir(), `${name}-sa-${process.pid}.kubeconfig`);
  await writeFile(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}

/** `helm install confighash charts/confighash` into confighash's namespace; returns what uninstalls it. */
export async function installChart(values: readonly string[] = []): Promise<() => Promise<void>> {
  // The benchmarks leave the kustomize install in place (their confighash runs under it); Helm would refuse to adopt it.
  await removeManifestsInstall();
  await helm(['install', 'confighash', CHART, '--namespace', CONFIGHASH_NAMESPACE, '--create-namespace', ...values]);
  return async () => {
    await helm(['uninstall', 'confighash', '--namespace', CONFIGHASH_NAMESPACE, '--wait']);
  };
}

/** Runs helm (built by test/run.ts, on PATH); resolves with its stdout. */
export function helm(args: readonly string[]): Promise<string> {
  return run('helm', args);
}

interface Checks {
  allowed: [string, string, string][];
  denied: [string, string, string][];
}

/**
 * Asserts that confighash's ServiceAccount is granted exactly what rbac-expectations.json
 * lists: for the base install, or with the reload-in-place component (what it adds, and no more).
 */
export async function assertRbacExpectations(install: 'base' | 'reloadInPlace' = 'base'): Promise<void> {
  const expectations = JSON.parse(await readFile(RBAC_EXPECTATIONS, 'utf8')) as Checks & {
    serviceAccount: string;
    reloadInPlace: Checks;
  };
  const checks = install === 'base' ? expectations : expectations.reloadInPlace;
  for (const check of checks.allowed)
    assert.equal(await allowed(expectations.serviceAccount, check), true, `should be allowed: ${check.join(' ')}`);
  for (const check of checks.denied)
    assert.equal(await allowed(expectations.serviceAccount, check), false, `should be denied: ${check.join(' ')}`);
}

/** `kubectl apply -k manifests/components/reload-in-place`'s RBAC, on top of an install; returns what removes it. */
export async function installReloadInPlaceRbac(): Promise<() => Promise<void>> {
  await kubectl(['apply', '-f', join(MANIFESTS, 'components', 'reload-in-place', 'rbac.yaml')]);
  return async () => {
    await kubectl([
      'delete',
      '-f',
      join(MANIFESTS, 'components', 'reload-in-place', 'rbac.yaml'),
      '--ignore-not-found',
    ]);
  };
}

/**
 * What RBAC answers `user` for `verb resource[.group][/name] [--subresource=S]` in
 * `namespace` (`any`: every namespace; empty: cluster-scoped): a SubjectAccessReview,
 * which, unlike `kubectl auth can-i`, needs no discovery (a CRD not installed yet).
 */
async function allowed(user: string, [verb, resource, namespace]: [string, string, string]): Promise<boolean> {
  const [target = '', flag] = resource.split(' ');
  const [qualified = '', name] = target.split('/');
  const dot = qualified.indexOf('.');
  const attributes = {
    verb,
    resource: dot < 0 ? qualified : qualified.slice(0, dot),
    group: dot < 0 ? '' : qualified.slice(dot + 1),
    ...(name ? { name } : {}),
    ...(flag ? { subresource: flag.replace('--subresource=', '') } : {}),
    ...(namespace && namespace !== 'any' ? { namespace } : {}),
  };
  const review = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: { user, resourceAttributes: attributes },
  };
  const answer = JSON.parse(await kubectl(['create', '-o', 'json', '-f', '-'], JSON.stringify(review))) as {
    status?: { allowed?: boolean };
  };
  return answer.status?.allowed === true;
}
