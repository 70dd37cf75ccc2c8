// Argo Rollouts on the local control plane (its CRD installed by the test; no
// Argo Rollouts controller runs, so confighash's patches are what is counted):
// a Rollout is stamped at admission and patched once per consumed-key change,
// whether its CRD was there when confighash started or came later; a Rollout
// whose workloadRef points at a Deployment rolls through that Deployment.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type ConfighashProcess, observedVersion, startConfighashForTest } from '../support/confighash.ts';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { barrier, settledRevisions, waitForIdle, waitForRevisions } from '../support/rollouts.ts';
import { configMap, workload } from '../support/workloads.ts';

const CRD = join(import.meta.dirname, '..', 'fixtures', 'argo-rollouts-crd.yaml');

interface Rollout {
  metadata: { generation: number; resourceVersion: string };
  spec: { template?: { metadata?: { annotations?: Record<string, string> } } };
}

async function installCrd(t: TestContext): Promise<void> {
  await kubectl(['apply', '-f', CRD]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/rollouts.argoproj.io']);
  t.after(() => kubectl(['delete', '-f', CRD, '--ignore-not-found', '--wait=true']));
}

/** web, as an Argo Rollout: the Deployment's spec with a canary strategy. */
function rollout(): object {
  const deployment = workload('Deployment', 'web', {
    env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LEVEL' } } }],
  }) as { spec: object };
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Rollout',
    metadata: { name: 'web' },
    spec: { ...deployment.spec, strategy: { canary: { steps: [{ setWeight: 50 }] } } },
  };
}

const getRollout = (ns: string): Promise<Rollout> =>
  kubectlJson<Rollout>(['get', 'rollouts.argoproj.io', 'web', '-n', ns]);
const change = (ns: string, data: Record<string, string>): Promise<string> =>
  kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', JSON.stringify({ data })]);

/** The Rollout once confighash has seen it as it is and has nothing left to do. */
async function settled(ns: string, confighash: ConfighashProcess): Promise<Rollout> {
  await waitFor(
    'confighash to observe the Rollout',
    async () =>
      (await observedVersion(confighash.metricsUrl, 'Rollout', ns, 'web')) ===
        (await getRollout(ns)).metadata.resourceVersion || undefined,
  );
  await waitForIdle(confighash.metricsUrl);
  return getRollout(ns);
}

async function stampedAndPatchedOnce(ns: string, confighash: ConfighashProcess): Promise<void> {
  await apply(ns, configMap('app', { LEVEL: 'info', OTHER: 'a' }), rollout());
  const created = await settled(ns, confighash);
  const checksum = created.spec.template?.metadata?.annotations?.['confighash.dev/checksum'];
  assert.match(checksum ?? '', /^v2:/, 'stamped at admission');
  await change(ns, { OTHER: 'b' });
  await barrier(ns, 'configmap', confighash.metricsUrl);
  assert.equal((await settled(ns, confighash)).metadata.generation, 1, 'an unconsumed key patched the Rollout');
  await change(ns, { LEVEL: 'debug' });
  await waitFor('the Rollout patched', async () => (await getRollout(ns)).metadata.generation === 2 || undefined);
  const patched = await settled(ns, confighash);
  assert.equal(patched.metadata.generation, 2, 'patched exactly once');
  assert.notEqual(patched.spec.template?.metadata?.annotations?.['confighash.dev/checksum'], checksum);
}

describe('Argo Rollouts', () => {
  it('a Rollout is stamped at admission and patched once for a consumed key, not for an unconsumed one', async (t) => {
    await installCrd(t);
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await stampedAndPatchedOnce(ns, confighash);
  });

  it('the CRD installed after confighash started is watched from then on, without a restart', async (t) => {
    await kubectl(['delete', '-f', CRD, '--ignore-not-found', '--wait=true']);
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await installCrd(t);
    await stampedAndPatchedOnce(ns, confighash);
  });

  it('a Rollout with a workloadRef rolls through its Deployment, which confighash patches once', async (t) => {
    await installCrd(t);
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const deployment = workload('Deployment', 'web-template', {
      env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LEVEL' } } }],
    }) as { spec: Record<string, unknown> };
    deployment.spec['replicas'] = 0;
    const referencing = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Rollout',
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web-template' } },
        workloadRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web-template' },
      },
    };
    await apply(ns, configMap('app', { LEVEL: 'info' }), deployment, referencing);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web-template', confighash.metricsUrl), 1);
    await change(ns, { LEVEL: 'debug' });
    await waitForRevisions(ns, 'Deployment', 'web-template', 2);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web-template', confighash.metricsUrl),
      2,
      'its template changed once: Argo Rollouts rolls the Rollout from it',
    );
    assert.equal(
      (await settled(ns, confighash)).metadata.generation,
      1,
      'the Rollout itself, with no template, is left alone',
    );
  });
});
