// confighash.dev/cronjob-run-now: after a CronJob's config rollout, one Job now
// from its new template, rather than at its next schedule. A failure is told (a
// Warning Event and a log line), and the rollout stands.
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.ts';
import type { CronJobRunner } from '../workloads/cronjob-runner.ts';
import { type WorkloadRecord, workloadEventTarget } from './workload-store.ts';

export interface RunNowOptions {
  jobs?: CronJobRunner | undefined;
  events: Pick<EventRecorder, 'record'>;
  logger: Logger;
}

/** Starts the Job when the workload asks for one and Jobs can be started; once per checksum. */
export async function runNowAfterRollout(
  options: RunNowOptions,
  record: WorkloadRecord,
  checksum: string,
): Promise<void> {
  const { jobs, events, logger } = options;
  if (!record.runNow || !jobs) return;
  try {
    const { job, existed } = await jobs.runNow(record.namespace, record.name, checksum);
    if (existed) return;
    logger.info({ workload: record.key, job }, 'started a Job from the new template (cronjob-run-now)');
    events.record(
      workloadEventTarget(record),
      'Normal',
      'JobStarted',
      `Started Job ${job} from the new template (confighash.dev/cronjob-run-now)`,
    );
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    logger.warn({ workload: record.key, err: reason }, 'could not start a Job from the new template');
    events.record(
      workloadEventTarget(record),
      'Warning',
      'JobNotStarted',
      `Could not start a Job from the new template (confighash.dev/cronjob-run-now): ${reason}; its next scheduled Job runs it`,
    );
  }
}
