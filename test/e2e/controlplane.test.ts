// The local control plane is a real one: kubectl reports v1.35.4, the controllers
// create ReplicaSets and ControllerRevisions, and the apiserver calls mutating
// webhooks registered by URL. Later issues build on exactly these paths.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { type ObjectList, type OwnedObject, deployment, statefulSet } from '../support/workloads.ts';
import { startTestWebhook } from '../support/test-webhook.ts';

describe('local control plane', () => {
  it('reports server version v1.35.4 to kubectl', async () => {
    const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(['version']);
    assert.equal(version.serverVersion.gitVersion, 'v1.35.4');
  });

  it('creates a ReplicaSet per Deployment template revision', async (t) => {
    const ns = await testNamespace(t);
    await apply(ns, deployment('web'));
    await waitFor('the first ReplicaSet', async () => (await replicaSets(ns)).length === 1 || undefined);

    await apply(ns, deployment('web', { 'example.com/revision': '2' }));
    const sets = await waitFor('a second ReplicaSet', async () => {
      const items = await replicaSets(ns);
      return items.length === 2 ? items : undefined;
    });
    const revisions = sets.map((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']);
    assert.deepEqual(revisions.sort(), ['1', '2']);
  });

  it('creates a ControllerRevision for a StatefulSet', async (t) => {
    const ns = await testNamespace(t);
    await apply(ns, statefulSet('db'));
    await waitFor('a ControllerRevision', async () => {
      const list = await kubectlJson<ObjectList<OwnedObject>>(['get', 'controllerrevisions', '-n', ns]);
      return list.items.length === 1 || undefined;
    });
  });

  it('calls a webhook registered by URL with AdmissionReview v1 and applies its patch', async (t) => {
    const ns = await testNamespace(t, { 'e2e.confighash.dev/webhook': 'on' });
    const webhook = await startTestWebhook(t, 'e2e.confighash.dev/webhook');

    // The apiserver picks up new webhook configurations asynchronously: probe with
    // server-side dry runs until one is mutated.
    await waitFor('the apiserver to call the webhook', async () => {
      const probe = await kubectl(
        ['create', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'],
        JSON.stringify(deployment('probe')),
      );
      return annotationsOf(probe)['e2e.confighash.dev/mutated'] === 'true' || undefined;
    });

    await apply(ns, deployment('mutated'));
    const live = await kubectl(['get', 'deployment', 'mutated', '-n', ns, '-o', 'json']);
    assert.equal(annotationsOf(live)['e2e.confighash.dev/mutated'], 'true');

    const review = webhook.reviews.find((r) => r.request.name === 'mutated' && !r.request.dryRun);
    assert.ok(review, 'the webhook saw the real (not dry-run) create');
    assert.equal(review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(review.kind, 'AdmissionReview');
    assert.equal(review.request.operation, 'CREATE');
    assert.deepEqual(review.request.kind, { group: 'apps', version: 'v1', kind: 'Deployment' });
  });
});

function replicaSets(namespace: string): Promise<OwnedObject[]> {
  return kubectlJson<ObjectList<OwnedObject>>(['get', 'replicasets', '-n', namespace]).then((l) => l.items);
}

function annotationsOf(json: string): Record<string, string> {
  const object = JSON.parse(json) as { spec: { template: OwnedObject } };
  return object.spec.template.metadata.annotations ?? {};
}
