// The guards of the controller's patches (workloads/patcher.ts) against the
// real API server: a rollout's stamp is guarded by the workload's generation, so a
// status write made after the decision does not refuse it, while a change of the
// spec does; a merge patch stays guarded by the resourceVersion.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadKubeConfig } from '../../src/kube/client.ts';
import { ConflictError, type WorkloadRef, WorkloadPatcher } from '../../src/workloads/patcher.ts';
import { apply, kubectl, kubectlJson, testNamespace } from '../support/kube.ts';

interface Deployment {
  metadata: { resourceVersion: string; generation: number; annotations?: Record<string, string> };
  spec: { template: { metadata: { annotations?: Record<string, string> } } };
}

const STAMP = {
  template: { 'confighash.dev/checksum': 'v2:k:new', 'confighash.dev/sources': 'configmap/app=5e0c2f7a1b3d' },
};

async function deployment(namespace: string): Promise<Deployment> {
  return kubectlJson<Deployment>(['get', 'deployment', 'web', '-n', namespace, '-o', 'json']);
}

/** The workload as the controller's store would have recorded it from `seen`. */
function refOf(namespace: string, seen: Deployment): WorkloadRef {
  const { resourceVersion, generation, annotations = {} } = seen.metadata;
  const template = seen.spec.template.metadata.annotations ?? {};
  return {
    kind: 'Deployment',
    namespace,
    name: 'web',
    resourceVersion,
    generation,
    annotated: { workload: Object.keys(annotations).length > 0, template: Object.keys(template).length > 0 },
  };
}

/** A status write, as kube-controller-manager makes after every rollout: a new resourceVersion, the same generation. */
async function writeStatus(namespace: string): Promise<void> {
  const { status } = await kubectlJson<{ status: { collisionCount?: number } }>([
    'get',
    'deployment',
    'web',
    '-n',
    namespace,
    '-o',
    'json',
  ]);
  const collisionCount = (status.collisionCount ?? 0) + 1;
  await kubectl([
    'patch',
    'deployment',
    'web',
    '-n',
    namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { collisionCount } }),
  ]);
}

async function webDeployment(namespace: string, annotated: boolean): Promise<Deployment> {
  await apply(namespace, {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', ...(annotated ? { annotations: { team: 'payments' } } : {}) },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: {
          labels: { app: 'web' },
          ...(annotated ? { annotations: { 'confighash.dev/checksum': 'v2:k:old' } } : {}),
        },
        spec: { containers: [{ name: 'app', image: 'app' }] },
      },
    },
  });
  return deployment(namespace);
}

describe('workload patches', () => {
  it('stamp a rollout after a status write, and refuse it after a change of the spec', async (t) => {
    const namespace = await testNamespace(t);
    const patcher = new WorkloadPatcher(loadKubeConfig());
    const seen = await webDeployment(namespace, true);
    await writeStatus(namespace);
    assert.notEqual(
      (await deployment(namespace)).metadata.resourceVersion,
      seen.metadata.resourceVersion,
      'the status write moved the resourceVersion',
    );

    await assert.rejects(
      patcher.patch(refOf(namespace, seen), { metadata: { annotations: { probe: 'x' } } }),
      ConflictError,
      'a merge patch is guarded by the resourceVersion',
    );
    const { generation } = await patcher.stamp(refOf(namespace, seen), {
      workload: { 'confighash.dev/rollout': 'v2:k:new now', 'confighash.dev/baseline': null },
      ...STAMP,
    });
    const stamped = await deployment(namespace);
    assert.equal(generation, seen.metadata.generation + 1);
    const {
      team,
      'confighash.dev/rollout': rollout,
      'confighash.dev/baseline': baseline,
    } = stamped.metadata.annotations ?? {};
    assert.deepEqual(
      { team, rollout, baseline },
      { team: 'payments', rollout: 'v2:k:new now', baseline: undefined },
      'the other annotations are kept',
    );
    assert.deepEqual(stamped.spec.template.metadata.annotations, STAMP.template);

    await assert.rejects(
      patcher.stamp(refOf(namespace, seen), { workload: {}, template: { 'confighash.dev/checksum': 'v2:k:newer' } }),
      ConflictError,
      'the spec changed since the decision',
    );
    assert.equal(
      (await deployment(namespace)).spec.template.metadata.annotations?.['confighash.dev/checksum'],
      'v2:k:new',
    );
  });

  it('stamp a workload without annotations with a merge patch guarded by its resourceVersion', async (t) => {
    const namespace = await testNamespace(t);
    const patcher = new WorkloadPatcher(loadKubeConfig());
    const seen = await webDeployment(namespace, false);
    await patcher.stamp(refOf(namespace, seen), { workload: { 'confighash.dev/rollout': 'v2:k:new now' }, ...STAMP });
    assert.deepEqual((await deployment(namespace)).spec.template.metadata.annotations, STAMP.template);
    await writeStatus(namespace);
    await assert.rejects(patcher.stamp(refOf(namespace, seen), { workload: {}, ...STAMP }), ConflictError);
  });
});
