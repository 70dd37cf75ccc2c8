// The notices the controller publishes (see src/notify/), built from what its
// parts decided. Each one's `about` is what identifies it on any replica: the
// values written to the workload with the decision (a rollout's checksum and
// start time, a deferral's checksum, reason and the rollout before it, a
// reload's change time), never this process's clock.
import {
  type MissingSource,
  makeNotice,
  type Notice,
  type NoticeWorkload,
  type RolloutTrigger,
  shortChecksum,
  type SourceChange,
} from '../notify/notice.ts';
import type { WorkloadRecord } from './workload-store.ts';

export function noticeWorkload(record: WorkloadRecord): NoticeWorkload {
  return { kind: record.kind, namespace: record.namespace, name: record.name, uid: record.uid };
}

export interface StartedRollout {
  checksum: string;
  from: string | undefined;
  /** As in confighash.dev/rollout. */
  startedAt: string;
  changes: SourceChange[];
  trigger: RolloutTrigger;
}

export function rolloutStarted(record: WorkloadRecord, rollout: StartedRollout): Notice {
  const sources = rollout.changes.map((c) => c.source).join(', ') || 'its sources';
  const why = rollout.trigger === 'reload-failed' ? 'the reload in place failed' : `${sources} changed`;
  return makeNotice('rollout.started', noticeWorkload(record), `${rollout.checksum} ${rollout.startedAt}`, {
    summary: `Rolling out ${record.kind} ${record.namespace}/${record.name}: ${why}.`,
    checksum: rollout.checksum,
    ...(rollout.from ? { previousChecksum: rollout.from } : {}),
    changes: rollout.changes,
    trigger: rollout.trigger,
  });
}

export function rolloutEnded(
  record: WorkloadRecord,
  rollout: { checksum: string; startedAt: Date },
  ending: { seconds: number; failure?: string },
): Notice {
  const about = `${rollout.checksum} ${rollout.startedAt.toISOString()}`;
  const workload = `${record.kind} ${record.namespace}/${record.name}`;
  const common = { checksum: rollout.checksum, durationSeconds: ending.seconds };
  if (ending.failure === undefined) {
    return makeNotice('rollout.completed', noticeWorkload(record), about, {
      summary: `${workload} runs configuration ${shortChecksum(rollout.checksum)}, rolled out in ${ending.seconds}s.`,
      ...common,
    });
  }
  return makeNotice('rollout.failed', noticeWorkload(record), about, {
    summary: `The rollout of configuration ${shortChecksum(rollout.checksum)} to ${workload} failed after ${ending.seconds}s: ${ending.failure}`,
    ...common,
    reason: ending.failure,
  });
}

export function rolloutDeferred(
  record: WorkloadRecord,
  held: { checksum: string; from: string | undefined; reason: string; detail: string; changes: SourceChange[] },
): Notice {
  const previous = record.rollout ? `${record.rollout.checksum} ${record.rollout.startedAt.toISOString()}` : '';
  const what = held.reason === 'approval' ? `awaiting approval: ${held.detail}` : `not yet: ${held.detail}`;
  return makeNotice('rollout.deferred', noticeWorkload(record), `${held.checksum} ${held.reason} ${previous}`, {
    summary: `Rollout of ${record.kind} ${record.namespace}/${record.name} deferred, ${what}.`,
    checksum: held.checksum,
    ...(held.from ? { previousChecksum: held.from } : {}),
    changes: held.changes,
    reason: held.reason,
    detail: held.detail,
  });
}

export function reloadEnded(
  record: WorkloadRecord,
  reload: { id: string; since: number; changes: SourceChange[]; pods?: number; failure?: string; fallback?: boolean },
): Notice {
  const about = `${reload.id} ${new Date(reload.since).toISOString()}`;
  const workload = `${record.kind} ${record.namespace}/${record.name}`;
  const pods = reload.pods ?? 0;
  const common = { changes: reload.changes, ...(reload.pods === undefined ? {} : { pods }) };
  if (reload.failure === undefined) {
    return makeNotice('reload.succeeded', noticeWorkload(record), about, {
      summary: `${workload} reloaded its configuration in place in ${pods} pod${pods === 1 ? '' : 's'}.`,
      ...common,
    });
  }
  const then = reload.fallback ? '; rolling it out instead' : '';
  return makeNotice('reload.failed', noticeWorkload(record), about, {
    summary: `${workload} could not reload its configuration in place${then}: ${reload.failure}`,
    ...common,
    reason: reload.failure,
  });
}

export function sourceMissing(record: WorkloadRecord, missing: MissingSource[], checksum: string | undefined): Notice {
  const names = missing.map((m) => m.source);
  return makeNotice('source.missing', noticeWorkload(record), `${[...names].sort().join(',')} ${checksum ?? ''}`, {
    summary: `${record.kind} ${record.namespace}/${record.name} consumes ${names.join(', ')}, which ${names.length === 1 ? 'does' : 'do'} not exist.`,
    missing,
  });
}
