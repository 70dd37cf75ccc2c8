import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { templatePath } from '../checksum/index.ts';
import { type AnnotationChanges, generationGuardedPatch } from './generation-guarded-patch.ts';

const CHANGES: AnnotationChanges = {
  workload: {
    'confighash.dev/rollout': 'v2:k:new 2026-12-02T10:00:00.000Z',
    'confighash.dev/baseline': null,
    'confighash.dev/deferred': null,
  },
  template: { 'confighash.dev/checksum': 'v2:k:new', 'confighash.dev/sources': 'configmap/app=5e0c2f7a1b3d' },
};

function deployment(generation: number): object {
  return {
    metadata: {
      name: 'web',
      generation,
      annotations: { 'deployment.kubernetes.io/revision': '4', 'confighash.dev/baseline': 'v2:k:old' },
    },
    spec: {
      template: { metadata: { annotations: { 'confighash.dev/checksum': 'v2:k:old', team: 'payments' } }, spec: {} },
    },
  };
}

/** The object as the API server would leave it (fast-json-patch applies RFC 6902 as it does). */
function applied(object: object, generation: number, path: readonly string[] = templatePath('Deployment')): unknown {
  return fastJsonPatch.applyPatch(object, generationGuardedPatch(generation, path, CHANGES), true, false).newDocument;
}

describe('generationGuardedPatch', () => {
  it('sets and removes the annotations of the workload and of its template, and leaves every other one alone', () => {
    assert.deepEqual(applied(deployment(3), 3), {
      metadata: {
        name: 'web',
        generation: 3,
        annotations: {
          'deployment.kubernetes.io/revision': '4',
          'confighash.dev/rollout': 'v2:k:new 2026-12-02T10:00:00.000Z',
        },
      },
      spec: {
        template: {
          metadata: {
            annotations: {
              'confighash.dev/checksum': 'v2:k:new',
              'confighash.dev/sources': 'configmap/app=5e0c2f7a1b3d',
              team: 'payments',
            },
          },
          spec: {},
        },
      },
    });
  });

  it('applies to nothing at another generation: the spec changed since the decision', () => {
    assert.throws(() => applied(deployment(4), 3), { name: 'TEST_OPERATION_FAILED' });
  });

  it('escapes the / of annotation names, and finds a CronJob template where the kind keeps it', () => {
    const operations = generationGuardedPatch(7, templatePath('CronJob'), CHANGES);
    assert.ok(
      operations.some(
        (op) => op.path === '/spec/jobTemplate/spec/template/metadata/annotations/confighash.dev~1checksum',
      ),
    );
    const cronJob = {
      metadata: { generation: 7, annotations: { a: 'b' } },
      spec: { jobTemplate: { spec: { template: { metadata: { annotations: { c: 'd' } } } } } },
    };
    const result = applied(cronJob, 7, templatePath('CronJob')) as {
      spec: { jobTemplate: { spec: { template: { metadata: { annotations: Record<string, string> } } } } };
    };
    assert.deepEqual(result.spec.jobTemplate.spec.template.metadata.annotations, { c: 'd', ...CHANGES.template });
  });
});
