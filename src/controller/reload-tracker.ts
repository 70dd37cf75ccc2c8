// Follows a reload in place to its end: after the reloaded sources of a `reload`
// workload changed, polls the agents of its pods (their status lines, read from
// their logs) until every pod reports it runs a configuration reloaded (or started
// with) since the change, or one reports a failure, or time runs out. Then it
// records the outcome: the workload's confighash.dev/reloaded annotation and a
// ConfigReloaded Event; or a ReloadFailed Warning naming the pods and why, and,
// with confighash.dev/reload-fallback: rollout, one rollout in its stead.
import {
  describeChanges,
  formatBaseline,
  RELOAD_FALLBACK_ANNOTATION,
  RELOADED_ANNOTATION,
  sourceChanges,
  type Stamp,
} from '../checksum/index.ts';
import type { AgentReport, AgentStatusReader, AgentWorkload } from '../workloads/agent-status.ts';
import { sleep } from '../time/sleep.ts';
import type { SourceChange } from '../notify/notice.ts';
import { reloadEnded, rolloutStarted } from './notices.ts';
import type { DecisionRecording } from './recording.ts';
import { type WorkloadRecord, type WorkloadStore, workloadEventTarget } from './workload-store.ts';

export interface ReloadTrackerOptions extends DecisionRecording {
  agents: AgentStatusReader;
  /** When the workload's reloaded sources last changed (ms since epoch), as the API server says; undefined if unknown. */
  changedAt: (record: WorkloadRecord) => Promise<number | undefined>;
  workloads: Pick<WorkloadStore, 'get'>;
  pollMs: number;
  /** How long the kubelet and the agents may take (the kubelet can take a minute to update a volume). */
  deadlineMs: number;
}

/** The API server records times to the second: a pod started a full second after the recorded change started after it. */
const TIME_RESOLUTION_MS = 1_000;

/** The reload a loop follows: its stamp's id, and when its sources changed (the same on any replica). */
interface Followed {
  id: string;
  since: number;
}

interface Tracking {
  stamp: Stamp;
  /** Short digests of the reloaded sources before, for the Event. */
  before: string | undefined;
}

export class ReloadTracker {
  readonly #options: ReloadTrackerOptions;
  readonly #now: () => number;
  readonly #tracking = new Map<string, Tracking>();
  /** Per workload, the stamp whose reload was given up on: it is not followed again until it changes. */
  readonly #given = new Map<string, string>();
  readonly #stopped = new AbortController();
  readonly #loops = new Set<Promise<void>>();

  constructor(options: ReloadTrackerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Follows the reload of `stamp` (the reloaded sources now) in `record`'s pods, unless it is followed, or was given up on, already. */
  track(record: WorkloadRecord, stamp: Stamp, before: string | undefined): void {
    const key = record.key;
    const id = formatBaseline(stamp);
    if (this.#current(key, id) || this.#given.get(key) === id) return;
    this.#tracking.set(key, { stamp, before });
    const loop = this.#follow(record, id).finally(() => this.#loops.delete(loop));
    this.#loops.add(loop);
  }

  /** Whether a reload of `record` is being followed. */
  following(key: string): boolean {
    return this.#tracking.has(key);
  }

  forget(key: string): void {
    this.#tracking.delete(key);
    this.#given.delete(key);
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    await Promise.all(this.#loops);
  }

  async #follow(record: WorkloadRecord, id: string): Promise<void> {
    const { logger, pollMs, deadlineMs } = this.#options;
    const since = (await this.#options.changedAt(record).catch(() => undefined)) ?? this.#now();
    const deadline = this.#now() + deadlineMs;
    logger.debug({ workload: record.key, since: new Date(since).toISOString() }, 'following a reload in place');
    const pods = new AgentPods(this.#options.agents, agentWorkload(record), since);
    while (!this.#stopped.signal.aborted && this.#current(record.key, id)) {
      await pods.poll().catch((error: unknown) => {
        logger.warn(
          { workload: record.key, err: (error as Error).message },
          "could not read the reload agents' status; retrying",
        );
      });
      const failed = pods.failed();
      if (failed.length > 0)
        return this.#failed(
          record,
          { id, since },
          failed.map(({ name, report }) => `pod ${name}: ${report.lastError ?? 'failed'}`),
        );
      const waiting = pods.waiting();
      logger.debug({ workload: record.key, pods: pods.count, waiting: waiting.length }, 'reload in place under way');
      // No pod running: the next ones mount the configuration as it is.
      if (waiting.length === 0) return this.#reloaded(record, { id, since }, pods.count);
      if (this.#now() >= deadline) {
        const names = waiting.slice(0, 5).join(', ') + (waiting.length > 5 ? ` and ${waiting.length - 5} more` : '');
        return this.#failed(record, { id, since }, [
          `timed out after ${Math.round(deadlineMs / 1000)}s: ${names} still wait for the kubelet to update their volumes, or for their agent`,
        ]);
      }
      await sleep(pollMs, this.#stopped.signal);
    }
  }

  /** Still the reload this loop follows (a newer change replaces it). */
  #current(key: string, id: string): boolean {
    const tracking = this.#tracking.get(key);
    return tracking !== undefined && formatBaseline(tracking.stamp) === id;
  }

  async #reloaded(record: WorkloadRecord, { id, since }: Followed, pods: number): Promise<void> {
    const { events, notices, logger, metrics } = this.#options;
    const tracking = this.#tracking.get(record.key);
    this.#tracking.delete(record.key);
    metrics.reloads.inc({ result: 'reloaded' });
    await this.#patch(record, { metadata: { annotations: { [RELOADED_ANNOTATION]: id } } });
    const changed = describeChanges(tracking?.before, tracking?.stamp.sources ?? '').join(', ');
    logger.info({ workload: record.key, pods, changed }, 'reloaded in place');
    if (pods === 0) return;
    events.record(
      workloadEventTarget(record),
      'Normal',
      'ConfigReloaded',
      `Reloaded in place in ${pods} pod${pods === 1 ? '' : 's'}: ${changed}`,
    );
    notices?.publish(
      reloadEnded(record, { id, since, pods, changes: sourceChanges(tracking?.before, tracking?.stamp.sources ?? '') }),
    );
  }

  async #failed(record: WorkloadRecord, { id, since }: Followed, reasons: readonly string[]): Promise<void> {
    const { events, notices, logger, metrics } = this.#options;
    const tracking = this.#tracking.get(record.key);
    this.#tracking.delete(record.key);
    this.#given.set(record.key, id);
    metrics.reloads.inc({ result: 'failed' });
    const fallback = record.reload?.plan.fallback === 'rollout';
    const shown = reasons.slice(0, 5).join('; ') + (reasons.length > 5 ? `; and ${reasons.length - 5} more` : '');
    logger.warn({ workload: record.key, reasons: shown, fallback }, 'the reload in place failed');
    events.record(
      workloadEventTarget(record),
      'Warning',
      'ReloadFailed',
      `Reload in place failed: ${shown}${fallback ? '; rolling the workload instead (reload-fallback: rollout)' : ''}`,
    );
    const changes = sourceChanges(tracking?.before, tracking?.stamp.sources ?? '');
    notices?.publish(reloadEnded(record, { id, since, changes, failure: shown, fallback }));
    if (fallback) await this.#fallBack(record, { id, since }, changes);
  }

  /** reload-fallback: rollout: rolls the workload in the reload's stead. */
  async #fallBack(record: WorkloadRecord, { id, since }: Followed, changes: SourceChange[]): Promise<void> {
    const { events, notices, metrics } = this.#options;
    metrics.rollouts.inc();
    const checksum = id.split(' ')[0] ?? id;
    await this.#patch(record, {
      metadata: { annotations: { [RELOADED_ANNOTATION]: id } },
      spec: { template: { metadata: { annotations: { [RELOAD_FALLBACK_ANNOTATION]: checksum } } } },
    });
    events.record(
      workloadEventTarget(record),
      'Normal',
      'ConfigChanged',
      'Rolling out: the reload in place failed, and confighash.dev/reload-fallback is rollout',
    );
    notices?.publish(
      rolloutStarted(record, {
        checksum,
        from: record.stamped.checksum,
        startedAt: new Date(since).toISOString(),
        changes,
        trigger: 'reload-failed',
      }),
    );
  }

  /** Patches the workload as it is now (a few tries: its status changes under it). */
  async #patch(record: WorkloadRecord, patch: { metadata?: object; spec?: object }): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      const latest = this.#options.workloads.get(record.key);
      if (!latest) return;
      try {
        await this.#options.patcher.patch(latest, patch);
        return;
      } catch (error) {
        if (attempt === 3)
          this.#options.logger.warn(
            { workload: record.key, err: (error as Error).message },
            'could not record the outcome of the reload',
          );
        await sleep(100 * attempt, this.#stopped.signal);
      }
    }
  }
}

/**
 * The agents of one followed reload: each poll lists the workload's pods and
 * reads the report of each pod not yet known to run the change (a pod that does
 * is not read again), so a reload costs about one log read per pod.
 */
class AgentPods {
  readonly #reader: AgentStatusReader;
  readonly #workload: AgentWorkload;
  readonly #since: number;
  /** The pods there when following began: a pod that came later mounted the new configuration. */
  #present: Set<string> | undefined;
  #names: string[] = [];
  readonly #reports = new Map<string, AgentReport | undefined>();
  readonly #running = new Set<string>();

  constructor(reader: AgentStatusReader, workload: AgentWorkload, since: number) {
    this.#reader = reader;
    this.#workload = workload;
    this.#since = since;
  }

  get count(): number {
    return this.#names.length;
  }

  async poll(): Promise<void> {
    this.#names = await this.#reader.pods(this.#workload);
    this.#present ??= new Set(this.#names);
    const unread = this.#names.filter((name) => !this.#running.has(name));
    await Promise.all(
      unread.map(async (name) => {
        const report = await this.#reader.report(this.#workload.namespace, name).catch(() => this.#reports.get(name));
        this.#reports.set(name, report);
        if (this.#present && runsChange(name, report, this.#since, this.#present)) this.#running.add(name);
      }),
    );
  }

  /** The pods whose agent gave up on a reload tried since the change. */
  failed(): { name: string; report: AgentReport }[] {
    return this.#names.flatMap((name) => {
      const report = this.#reports.get(name);
      return report && failedSince(report, this.#since) ? [{ name, report }] : [];
    });
  }

  /** The pods not yet known to run the change. */
  waiting(): string[] {
    return this.#names.filter((name) => !this.#running.has(name));
  }
}

function agentWorkload(record: WorkloadRecord): AgentWorkload {
  return {
    kind: record.kind,
    namespace: record.namespace,
    name: record.name,
    uid: record.uid,
    selector: record.selector,
  };
}

/** Whether the pod runs the change made at `since`: its agent reloaded since, or the pod started after it. */
function runsChange(
  name: string,
  report: AgentReport | undefined,
  since: number,
  present: ReadonlySet<string>,
): boolean {
  if (report?.state !== 'current') return false;
  if (Date.parse(report.lastSuccess ?? '') >= since) return true;
  return !present.has(name) || Date.parse(report.startedAt) >= since + TIME_RESOLUTION_MS;
}

/** Whether the agent gave up on a reload it tried since `since` (an older failure is about an older change). */
function failedSince(report: AgentReport | undefined, since: number): boolean {
  return report?.state === 'failed' && Date.parse(report.lastAttempt ?? '') >= since;
}
