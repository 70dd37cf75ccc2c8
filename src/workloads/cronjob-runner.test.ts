import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jobFor } from './cronjob-runner.ts';

const cronJob = {
  metadata: { name: 'report', uid: 'cj-uid' },
  spec: {
    jobTemplate: {
      metadata: { labels: { app: 'report' } },
      spec: { template: { spec: { containers: [{ name: 'c' }] } } },
    },
  },
};

describe('the Job started for cronjob-run-now', () => {
  it('is what kubectl create job --from would make, owned by the CronJob, named for the configuration', () => {
    const job = jobFor(cronJob, 'report', 'v2:3f9a01bc:aaaa');
    assert.match(job.metadata.name, /^report-config-[0-9a-f]{8}$/);
    assert.deepEqual(job.metadata['labels'], { app: 'report' });
    assert.equal(
      (job.metadata['annotations'] as Record<string, string>)['cronjob.kubernetes.io/instantiate'],
      'manual',
    );
    assert.deepEqual(job.metadata['ownerReferences'], [
      {
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        name: 'report',
        uid: 'cj-uid',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.deepEqual(job.spec, cronJob.spec.jobTemplate.spec);
    assert.equal(
      jobFor(cronJob, 'report', 'v2:3f9a01bc:aaaa').metadata.name,
      job.metadata.name,
      'the same configuration, the same Job',
    );
    assert.notEqual(jobFor(cronJob, 'report', 'v2:3f9a01bc:bbbb').metadata.name, job.metadata.name);
  });

  it('has a name a Job can have, however long the name of its CronJob', () => {
    const name = `${'a'.repeat(50)}-b.c-`;
    const job = jobFor(cronJob, name, 'v2:3f9a01bc:aaaa');
    assert.ok(job.metadata.name.length <= 63, job.metadata.name);
    assert.match(job.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});
