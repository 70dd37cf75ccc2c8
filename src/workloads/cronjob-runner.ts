// `confighash.dev/cronjob-run-now: "true"`: after confighash patched a CronJob's
// template, one Job also starts now from the new template, as `kubectl create job
// --from=cronjob/NAME` starts one (owned by the CronJob, annotated as started by
// hand). Its name is derived from the configuration it runs, so a retry or a new
// leader finds it made and makes no second one.
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { apiStatus } from '../kube/errors.ts';
import { apiPath, requestJson } from '../kube/raw.ts';

export const RUN_NOW_ANNOTATION = 'confighash.dev/cronjob-run-now';

const REQUEST_TIMEOUT_MS = 10_000;
/** A Job's name ends up in its pods' job-name label: at most 63 characters. */
const MAX_JOB_NAME = 63;

interface CronJob {
  metadata?: { name?: string; uid?: string };
  spec?: {
    jobTemplate?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: object;
    };
  };
}

/** Starts Jobs from CronJobs; over the API server in production, faked in tests. */
export interface CronJobRunner {
  /** Starts one Job from the CronJob's template as it is now; resolves with its name, and whether it existed already. */
  runNow(namespace: string, name: string, checksum: string): Promise<{ job: string; existed: boolean }>;
}

export function apiCronJobRunner(config: KubeConfig): CronJobRunner {
  return {
    async runNow(namespace, name, checksum) {
      const cronJob = await requestJson<CronJob>(config, {
        method: 'GET',
        path: apiPath('/apis/batch/v1', 'namespaces', namespace, 'cronjobs', name),
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      const job = jobFor(cronJob, name, checksum);
      try {
        await requestJson(config, {
          method: 'POST',
          path: apiPath('/apis/batch/v1', 'namespaces', namespace, 'jobs'),
          body: job,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        return { job: job.metadata.name, existed: false };
      } catch (error) {
        if (apiStatus(error) === 409) return { job: job.metadata.name, existed: true };
        throw error;
      }
    },
  };
}

/** The Job `kubectl create job --from=cronjob/NAME` would make, named for `checksum`. */
export function jobFor(
  cronJob: CronJob,
  name: string,
  checksum: string,
): { metadata: { name: string } & Record<string, unknown>; spec: object } {
  const suffix = `-config-${createHash('sha256').update(checksum).digest('hex').slice(0, 8)}`;
  const template = cronJob.spec?.jobTemplate ?? {};
  return {
    metadata: {
      name: `${name.slice(0, MAX_JOB_NAME - suffix.length).replace(/[-.]+$/, '')}${suffix}`,
      labels: template.metadata?.labels ?? {},
      annotations: {
        ...template.metadata?.annotations,
        'cronjob.kubernetes.io/instantiate': 'manual',
        'confighash.dev/run-for': checksum,
      },
      ownerReferences: [
        {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          name,
          uid: cronJob.metadata?.uid ?? '',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: template.spec ?? {},
  };
}
