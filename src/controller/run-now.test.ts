import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { workloadRecord } from '../../test/support/workload-record.ts';
import type { CronJobRunner } from '../workloads/cronjob-runner.ts';
import { runNowAfterRollout } from './run-now.ts';

function run(jobs: CronJobRunner | undefined): { events: string[]; options: Parameters<typeof runNowAfterRollout>[0] } {
  const events: string[] = [];
  const options = {
    jobs,
    events: {
      record: (_t: unknown, type: string, reason: string, message: string) =>
        void events.push(`${type} ${reason}: ${message}`),
    },
    logger: pino({ level: 'silent' }),
  };
  return { events, options };
}

const cronJob = workloadRecord({ kind: 'CronJob', runNow: true });

describe('runNowAfterRollout', () => {
  it('starts one Job for a CronJob that asks for it, and tells it; a Job that exists already is not told again', async () => {
    const started: string[] = [];
    const { events, options } = run({
      runNow: async (namespace, name, checksum) => {
        started.push(`${namespace}/${name} ${checksum}`);
        return { job: 'web-cfg-1', existed: started.length > 1 };
      },
    });
    await runNowAfterRollout(options, cronJob, 'v2:00000000:bbbb');
    await runNowAfterRollout(options, cronJob, 'v2:00000000:bbbb');
    assert.deepEqual(started, ['app/web v2:00000000:bbbb', 'app/web v2:00000000:bbbb']);
    assert.deepEqual(events, [
      'Normal JobStarted: Started Job web-cfg-1 from the new template (confighash.dev/cronjob-run-now)',
    ]);
  });

  it('tells a Job that could not start, and does not throw: the rollout stands', async () => {
    const { events, options } = run({
      runNow: async () => {
        throw new Error('forbidden');
      },
    });
    await runNowAfterRollout(options, cronJob, 'v2:00000000:bbbb');
    assert.equal(events.length, 1);
    assert.match(events[0] ?? '', /^Warning JobNotStarted: .*: forbidden; its next scheduled Job runs it$/);
  });

  it('starts nothing for a workload that does not ask, or without Jobs', async () => {
    let asked = 0;
    const jobs: CronJobRunner = {
      runNow: async () => {
        asked++;
        return { job: 'j', existed: false };
      },
    };
    await runNowAfterRollout(run(jobs).options, workloadRecord({ kind: 'CronJob' }), 'v2:00000000:bbbb');
    await runNowAfterRollout(run(undefined).options, cronJob, 'v2:00000000:bbbb');
    assert.equal(asked, 0);
  });
});
