// The Helm chart (charts/confighash): helm lint is clean, helm template is stable
// and renders the objects of the kustomize install (the base, and the namespaced
// overlay for `watchNamespaces`), and helm install gives an install equivalent to
// `kubectl apply -k manifests/`: the same RBAC answers, and confighash works
// under its ServiceAccount.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIGHASH_NAMESPACE, startConfighashForTest } from '../support/confighash.ts';
import { assertRbacExpectations, helm, installChart, serviceAccountKubeconfig } from '../support/install.ts';
import { apply, kubectl, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const CHART = join(ROOT, 'charts', 'confighash');

interface KubeObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  rules?: object[];
  [field: string]: unknown;
}

/** YAML documents as the API server would take them (kubectl parses them, and prints each as JSON; nothing is sent). */
async function objectsOf(yaml: string): Promise<KubeObject[]> {
  const printed = await kubectl(['create', '--dry-run=client', '-o', 'json', '-f', '-'], yaml);
  // One pretty-printed object after another: each ends with a `}` alone on its line.
  return printed
    .split(/^\}$/m)
    .filter((part) => part.trim() !== '')
    .map((part) => JSON.parse(`${part}}`) as KubeObject);
}

/** What two installs must agree on: everything but Helm's own labels, comments and the order of RBAC rules. */
function comparable(objects: readonly KubeObject[]): Record<string, unknown> {
  const entries = objects.map((object): [string, unknown] => {
    const { metadata, ...rest } = object;
    const labels = Object.fromEntries(
      Object.entries(metadata.labels ?? {}).filter(
        ([key]) => key === 'app.kubernetes.io/name' || key === 'app.kubernetes.io/part-of',
      ),
    );
    const rules = object.rules?.map((rule) => JSON.stringify(rule)).sort();
    return [
      `${object.kind} ${metadata.namespace ?? ''}/${metadata.name}`,
      { ...rest, ...(rules ? { rules } : {}), labels, annotations: metadata.annotations ?? {} },
    ];
  });
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

const template = (values: readonly string[] = []): Promise<string> =>
  helm(['template', 'confighash', CHART, '--namespace', CONFIGHASH_NAMESPACE, ...values]);

describe('Helm chart', () => {
  it('is clean for helm lint, and helm template renders the same output every time', async () => {
    const lint = await helm(['lint', CHART, '--strict']);
    assert.match(lint, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    assert.doesNotMatch(lint, /\[(WARNING|ERROR)\]/);
    assert.equal(await template(), await template());
  });

  it('renders the objects of kubectl apply -k manifests/, but the Namespace (helm install --create-namespace makes it)', async () => {
    const kustomize = (await objectsOf(await kubectl(['kustomize', join(ROOT, 'manifests')]))).filter(
      (o) => o.kind !== 'Namespace',
    );
    assert.deepEqual(comparable(await objectsOf(await template())), comparable(kustomize));
  });

  it('with watchNamespaces, renders the objects of the namespaced overlay', async () => {
    const overlay = (await kubectl(['kustomize', join(ROOT, 'manifests', 'overlays', 'namespaced')])).replaceAll(
      'my-app',
      'team-a',
    );
    const kustomize = (await objectsOf(overlay)).filter((o) => o.kind !== 'Namespace');
    assert.deepEqual(
      comparable(await objectsOf(await template(['--set', 'watchNamespaces={team-a}']))),
      comparable(kustomize),
    );
  });

  it('installs on the control plane with the RBAC of kubectl apply -k, under which confighash works', async (t) => {
    const uninstall = await installChart();
    // Uninstalled after confighash stops (hooks run in order): a leader without RBAC could not release its Lease.
    const kubeconfig = await serviceAccountKubeconfig().catch(async (error: unknown) => {
      await uninstall();
      throw error;
    });
    const confighash = await startConfighashForTest(t, [
      `--kubeconfig=${kubeconfig}`,
      '--leader-elect',
      '--coalesce-window=0',
    ]).finally(() => {
      t.after(uninstall);
    });
    assert.match(await helm(['status', 'confighash', '--namespace', CONFIGHASH_NAMESPACE]), /STATUS: deployed/);
    await assertRbacExpectations();
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(
      ns,
      configMap('app', { a: '1' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
    await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    assert.equal(
      confighash.logs.some((line) => /forbidden: User ".*" cannot /.test(line)),
      false,
      'no permission was missing',
    );
  });
});
