import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { templateAnnotationsPatch } from './patch.ts';
import type { WorkloadObject } from './review.ts';

const desired = {
  'confighash.dev/checksum': 'v1:abc',
  'confighash.dev/sources': 'configmap/app=0123456789ab',
};

function workload(annotations?: Record<string, string> | null): WorkloadObject {
  const metadata = annotations === undefined ? { labels: { app: 'x' } } : { labels: { app: 'x' }, annotations };
  return { spec: { template: { metadata, spec: { containers: [] } } } };
}

/** Applies the patch to a copy and returns the resulting template annotations. */
function applied(object: WorkloadObject, want: Record<string, string>): Record<string, string> | undefined {
  const patch = templateAnnotationsPatch(object, want);
  const result = fastJsonPatch.applyPatch(structuredClone(object), patch, true, false).newDocument;
  return result.spec?.template?.metadata?.annotations ?? undefined;
}

describe('templateAnnotationsPatch', () => {
  it('adds the annotations map when the template has none', () => {
    const patch = templateAnnotationsPatch(workload(), desired);
    assert.deepEqual(patch, [{ op: 'add', path: '/spec/template/metadata/annotations', value: desired }]);
  });

  it('escapes the / in annotation keys as ~1 when the map exists', () => {
    const patch = templateAnnotationsPatch(workload({ other: 'kept' }), desired);
    assert.deepEqual(patch.map((op) => op.path).sort(), [
      '/spec/template/metadata/annotations/confighash.dev~1checksum',
      '/spec/template/metadata/annotations/confighash.dev~1sources',
    ]);
    assert.deepEqual(applied(workload({ other: 'kept' }), desired), { other: 'kept', ...desired });
  });

  it('is empty when the annotations already match (idempotent)', () => {
    assert.deepEqual(templateAnnotationsPatch(workload({ ...desired, other: 'x' }), desired), []);
  });

  it('replaces stale values', () => {
    const stale = workload({ 'confighash.dev/checksum': 'v1:old', 'confighash.dev/sources': 'configmap/app=old' });
    assert.deepEqual(applied(stale, desired), desired);
    assert.ok(templateAnnotationsPatch(stale, desired).every((op) => op.op === 'replace'));
  });

  it('removes managed annotations when there are no sources, and nothing else', () => {
    assert.deepEqual(applied(workload({ ...desired, other: 'kept' }), {}), { other: 'kept' });
    assert.deepEqual(templateAnnotationsPatch(workload(), {}), []);
    assert.deepEqual(templateAnnotationsPatch(workload(null), {}), []);
  });

  it('adds template metadata when it is absent', () => {
    const bare: WorkloadObject = { spec: { template: { spec: {} } } };
    assert.deepEqual(applied(bare, desired), desired);
  });
});
