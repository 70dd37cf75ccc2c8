// The namespaced install (manifests/overlays/namespaced, --watch-namespace): its
// RBAC grants what confighash needs in the watched namespace and its own, and
// nothing cluster-wide but its webhook configuration; confighash works under it,
// in a namespace without the opt-in label, and leaves every other namespace alone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIGHASH_NAMESPACE, startConfighashForTest } from '../support/confighash.ts';
import { installNamespaced, serviceAccountKubeconfig } from '../support/install.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const SERVICE_ACCOUNT = `system:serviceaccount:${CONFIGHASH_NAMESPACE}:confighash`;

async function canI(verb: string, resource: string, namespace?: string): Promise<boolean> {
  const scope = namespace === undefined ? [] : namespace === 'any' ? ['--all-namespaces'] : ['-n', namespace];
  const answer = await kubectl([
    'auth',
    'can-i',
    verb,
    ...resource.split(' '),
    ...scope,
    `--as=${SERVICE_ACCOUNT}`,
  ]).then(
    (out) => out.trim(),
    () => 'no',
  );
  return answer === 'yes';
}

describe('namespaced install', () => {
  it('grants what it needs in the watched namespace and its own, and nothing cluster-wide but its webhook configuration', async (t) => {
    const [watched, other] = [await testNamespace(t), await testNamespace(t)];
    t.after(await installNamespaced(watched));
    const allowed: [string, string, string?][] = [
      ['list', 'secrets', watched],
      ['watch', 'configmaps', watched],
      ['patch', 'deployments.apps', watched],
      ['patch', 'statefulsets.apps', watched],
      ['patch', 'cronjobs.batch', watched],
      ['create', 'jobs.batch', watched],
      ['create', 'events', watched],
      ['patch', 'events', watched],
      ['update', 'secrets/confighash-hmac-key', CONFIGHASH_NAMESPACE],
      ['watch', 'secrets/confighash-webhook-tls', CONFIGHASH_NAMESPACE],
      ['watch', 'secrets/confighash-notifications', CONFIGHASH_NAMESPACE],
      ['create', 'events', CONFIGHASH_NAMESPACE],
      ['update', 'leases.coordination.k8s.io/confighash-controller', CONFIGHASH_NAMESPACE],
      ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/confighash'],
    ];
    const denied: [string, string, string?][] = [
      ['list', 'secrets', 'any'],
      ['get', 'secrets', other],
      ['list', 'configmaps', other],
      ['patch', 'deployments.apps', other],
      ['patch', 'deployments.apps', 'kube-system'],
      ['list', 'namespaces'],
      ['get', 'secrets/other', CONFIGHASH_NAMESPACE],
      ['get', 'pods --subresource=log', other],
      ['patch', 'cronjobs.batch', other],
      // Without reload in place, no pod and no log, not even in the watched namespace.
      ['list', 'pods', watched],
      ['get', 'pods --subresource=log', watched],
      ['patch', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/other'],
    ];
    for (const [verb, resource, namespace] of allowed)
      assert.ok(
        await canI(verb, resource, namespace),
        `should be allowed: ${verb} ${resource} in ${namespace ?? 'the cluster'}`,
      );
    for (const [verb, resource, namespace] of denied)
      assert.equal(
        await canI(verb, resource, namespace),
        false,
        `should be denied: ${verb} ${resource} in ${namespace ?? 'the cluster'}`,
      );
  });

  it('runs under it: stamps and rolls in the watched namespace, unlabelled, and leaves an opted-in other namespace alone', async (t) => {
    const watched = await testNamespace(t);
    const other = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const uninstall = await installNamespaced(watched);
    const kubeconfig = await serviceAccountKubeconfig();
    // Removed after confighash stops (hooks run in order): a leader without RBAC could not release its Lease.
    const confighash = await startConfighashForTest(
      t,
      [`--kubeconfig=${kubeconfig}`, `--watch-namespace=${watched}`, '--leader-elect', '--coalesce-window=1s'],
      { probeNamespace: watched },
    ).finally(() => {
      t.after(uninstall);
    });
    const uses = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] });
    for (const ns of [watched, other]) await apply(ns, configMap('app', { a: '1' }), uses);
    assert.match(
      templateAnnotations(await getWorkload(watched, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/app=/,
    );
    assert.equal(
      templateAnnotations(await getWorkload(other, 'Deployment', 'web'))['confighash.dev/sources'],
      undefined,
      'not its namespace',
    );
    assert.equal(await settledRevisions(watched, 'Deployment', 'web', confighash.metricsUrl), 1);

    for (const ns of [watched, other])
      await kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitForRevisions(watched, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(watched, 'Deployment', 'web', confighash.metricsUrl), 2);
    assert.equal(
      (await kubectl(['get', 'replicasets', '-n', other, '-o', 'name'])).trim().split('\n').length,
      1,
      'the other namespace rolled',
    );
    assert.equal(
      confighash.logs.some((line) => /forbidden: User ".*" cannot /.test(line)),
      false,
      'no permission was missing',
    );
  });
});
