import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type WorkloadObject, WorkloadStore } from './workload-store.ts';

function deployment(resourceVersion: string, configMap: string, status = 0): WorkloadObject & { status: object } {
  return {
    metadata: { namespace: 'app', name: 'web', uid: 'u1', resourceVersion },
    spec: { template: { spec: { containers: [{ name: 'c', envFrom: [{ configMapRef: { name: configMap } }] }] } } },
    status: { observedGeneration: status },
  };
}

describe('WorkloadStore', () => {
  it('indexes each source to the workloads consuming it, and re-indexes on change', () => {
    const store = new WorkloadStore();
    const handler = store.handler('Deployment');
    handler.upsert(deployment('1', 'a'));
    assert.deepEqual([...store.consumersOf('app', 'configmap/a')], ['Deployment/app/web']);
    handler.upsert(deployment('2', 'b'));
    assert.deepEqual([...store.consumersOf('app', 'configmap/a')], []);
    assert.deepEqual([...store.consumersOf('app', 'configmap/b')], ['Deployment/app/web']);
    handler.prune(new Set());
    assert.deepEqual([...store.consumersOf('app', 'configmap/b')], []);
    assert.equal(store.size, 0);
  });

  it('asks for a reconcile only when something confighash tracks changed', () => {
    const store = new WorkloadStore();
    const changed: string[] = [];
    const versions: string[] = [];
    store.onChange((key) => changed.push(key));
    store.onNewVersion((key) => versions.push(key));
    const handler = store.handler('Deployment');
    handler.upsert(deployment('1', 'a'));
    handler.upsert(deployment('2', 'a', 1));
    assert.deepEqual(changed, ['Deployment/app/web']);
    assert.deepEqual(versions, ['Deployment/app/web'], 'a status change: a new version only');
    assert.equal(store.get('Deployment/app/web')?.resourceVersion, '2');
    handler.upsert(deployment('3', 'b', 1));
    assert.equal(changed.length, 2);
  });
});
