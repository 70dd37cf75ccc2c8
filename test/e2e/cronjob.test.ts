// CronJobs on the local control plane: the webhook stamps the job template; a
// change of a consumed key patches the CronJob once, so its next Job runs the new
// configuration, and an unconsumed key changes nothing; with
// confighash.dev/cronjob-run-now one Job also starts from the new template.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ConfighashProcess, observedVersion, startConfighashForTest } from '../support/confighash.ts';
import { eventsOf, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlJson, testNamespace, waitFor } from '../support/kube.ts';
import { barrier, waitForIdle } from '../support/rollouts.ts';
import { configMap } from '../support/workloads.ts';

interface CronJob {
  metadata: { generation: number; resourceVersion: string; uid: string };
  spec: { jobTemplate: { spec: { template: { metadata?: { annotations?: Record<string, string> } } } } };
}

interface Job {
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
}

function cronJob(annotations: Record<string, string> = {}): object {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'report', ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
    spec: {
      // Never due during a test: only confighash starts Jobs here.
      schedule: '0 0 1 1 *',
      jobTemplate: {
        spec: {
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [
                {
                  name: 'report',
                  image: 'registry.k8s.io/pause:3.10',
                  env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app', key: 'LEVEL' } } }],
                },
              ],
            },
          },
        },
      },
    },
  };
}

const patch = (ns: string, data: Record<string, string>): Promise<string> =>
  kubectl(['patch', 'configmap', 'app', '-n', ns, '--type=merge', '-p', JSON.stringify({ data })]);
const getCronJob = (ns: string): Promise<CronJob> => kubectlJson<CronJob>(['get', 'cronjob', 'report', '-n', ns]);
const checksumOf = (object: CronJob): string | undefined =>
  object.spec.jobTemplate.spec.template.metadata?.annotations?.['confighash.dev/checksum'];
const jobs = async (ns: string): Promise<Job[]> =>
  (await kubectlJson<{ items: Job[] }>(['get', 'jobs', '-n', ns])).items;

/** The CronJob once confighash has seen it as it is and has nothing left to do: a second patch could not be on its way. */
async function settled(ns: string, confighash: ConfighashProcess): Promise<CronJob> {
  await waitFor(
    'confighash to observe the CronJob',
    async () =>
      (await observedVersion(confighash.metricsUrl, 'CronJob', ns, 'report')) ===
        (await getCronJob(ns)).metadata.resourceVersion || undefined,
  );
  await waitForIdle(confighash.metricsUrl);
  return getCronJob(ns);
}

describe('CronJobs', () => {
  it('stamps the job template, patches the CronJob once for a consumed key, and not for an unconsumed one', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(ns, configMap('app', { LEVEL: 'info', OTHER: 'a' }), cronJob());
    const created = await settled(ns, confighash);
    assert.match(checksumOf(created) ?? '', /^v2:/, 'stamped at admission');
    assert.equal(created.metadata.generation, 1);

    await patch(ns, { OTHER: 'b' });
    await barrier(ns, 'configmap', confighash.metricsUrl);
    assert.equal((await settled(ns, confighash)).metadata.generation, 1, 'an unconsumed key patched the CronJob');

    await patch(ns, { LEVEL: 'debug' });
    await waitFor('the CronJob patched', async () => (await getCronJob(ns)).metadata.generation === 2 || undefined);
    const patched = await settled(ns, confighash);
    assert.equal(patched.metadata.generation, 2, 'patched exactly once');
    assert.notEqual(checksumOf(patched), checksumOf(created));
    const changed = await waitFor("the CronJob's ConfigChanged Event", async () =>
      (await eventsOf(ns, 'ConfigChanged')).find((e) => e.involvedObject.kind === 'CronJob'),
    );
    assert.match(changed.message, /configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LEVEL\)/);
    assert.deepEqual(await jobs(ns), [], 'no Job without cronjob-run-now');
  });

  it('with cronjob-run-now, also starts one Job from the new template, owned by the CronJob', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(ns, configMap('app', { LEVEL: 'info' }), cronJob({ 'confighash.dev/cronjob-run-now': 'true' }));
    await settled(ns, confighash);
    assert.deepEqual(await jobs(ns), [], 'no Job on create');

    await patch(ns, { LEVEL: 'debug' });
    const job = await waitFor('a Job', async () => (await jobs(ns))[0]);
    const cron = await settled(ns, confighash);
    assert.equal((await jobs(ns)).length, 1, 'exactly one Job');
    assert.deepEqual(
      job.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
      [['CronJob', 'report', cron.metadata.uid]],
    );
    assert.equal(
      job.metadata.annotations?.['confighash.dev/run-for'],
      checksumOf(cron),
      'started from the new template',
    );
    const [started] = await waitForEvents(ns, 'JobStarted');
    assert.match(started?.message ?? '', new RegExp(`^Started Job ${job.metadata.name} from the new template`));
  });
});
