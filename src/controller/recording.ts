// What the controller's parts that decide about a workload (the gatekeeper, the
// rollout follower, the reload tracker) record their decisions with: a patch of
// the workload, an Event, a notice, a log line and a metric.
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.ts';
import type { WorkloadPatcher } from '../workloads/patcher.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { NoticePublisher } from '../notify/notifier.ts';

export interface DecisionRecording {
  patcher: Pick<WorkloadPatcher, 'patch'>;
  events: Pick<EventRecorder, 'record'>;
  notices?: NoticePublisher;
  logger: Logger;
  metrics: Metrics;
  now?: () => number;
}
