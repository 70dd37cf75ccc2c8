import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { migrationEntry } from './migration.ts';

const deployment = (annotations: Record<string, string>): object => ({
  metadata: { name: 'web', namespace: 'shop', annotations },
  spec: { template: { spec: { containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }] }] } } },
});

describe('migrate-check entries', () => {
  it('skip a workload without Reloader annotations', () => {
    assert.equal(migrationEntry('Deployment', deployment({ team: 'a' }), true), undefined);
  });

  it('say that auto "false" alone is not tracked outside a selected namespace, and what is not read', () => {
    const entry = migrationEntry(
      'Deployment',
      deployment({ 'reloader.stakater.com/auto': 'false', 'reloader.stakater.com/rollout-strategy': 'restart' }),
      false,
    );
    assert.deepEqual(entry?.counts, []);
    assert.match(entry.notes[0] ?? '', /^not tracked/);
    assert.match(entry.notes[1] ?? '', /rollout-strategy: not read/);
    assert.deepEqual(
      migrationEntry('Deployment', deployment({ 'reloader.stakater.com/auto': 'false' }), true)?.counts,
      ['configmap/app (every key)'],
      'a selected namespace tracks it as any workload',
    );
  });

  it("read a CronJob's job template", () => {
    const cronJob = {
      metadata: { name: 'report', namespace: 'shop', annotations: { 'reloader.stakater.com/auto': 'true' } },
      spec: {
        jobTemplate: {
          spec: { template: { spec: { containers: [{ name: 'c', envFrom: [{ secretRef: { name: 'db' } }] }] } } },
        },
      },
    };
    assert.deepEqual(migrationEntry('CronJob', cronJob, true)?.counts, ['secret/db (every key)']);
  });
});
