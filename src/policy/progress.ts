// How far a workload's rollout has got, from its status alone (pure), judged as
// `kubectl rollout status` judges it: complete, progressing (with how many pods are
// updated), or failed (a Deployment past its progressDeadlineSeconds). A
// StatefulSet or DaemonSet has no such deadline: the controller gives them one. A
// CronJob has no rollout at all: its next Job runs the new template.

export interface WorkloadStatus {
  generation?: number | undefined;
  observedGeneration?: number | undefined;
  /** Desired pods (spec.replicas; a DaemonSet's desiredNumberScheduled). */
  desired?: number | undefined;
  updated?: number | undefined;
  /** Pods of any revision (status.replicas). */
  current?: number | undefined;
  available?: number | undefined;
  /** StatefulSet: status.currentRevision and status.updateRevision. */
  currentRevision?: string | undefined;
  updateRevision?: string | undefined;
  /** StatefulSet or DaemonSet with the OnDelete update strategy: pods change only when deleted. */
  onDelete?: boolean | undefined;
  /** Deployment: the reason of its Progressing condition when False. */
  stalledReason?: string | undefined;
}

export type Progress =
  | { state: 'complete' }
  | { state: 'progressing'; updated: number; desired: number }
  | { state: 'failed'; reason: string };

export type ProgressKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** A workload object's rollout progress; a CronJob has none to wait for; an Argo Rollout says its own. */
export function progressOf(kind: ProgressKind | 'CronJob' | 'Rollout', object: RawWorkload): Progress {
  if (kind === 'CronJob') return { state: 'complete' };
  if (kind === 'Rollout') return argoRolloutProgress(object);
  return rolloutProgress(kind, statusOf(kind, object));
}

/**
 * An Argo Rollout's progress from its status.phase, as `kubectl argo rollouts
 * status` reads it: Healthy is complete, Degraded (past its progressDeadlineSeconds,
 * or aborted) failed, anything else (Progressing, Paused) under way.
 */
function argoRolloutProgress(object: RawWorkload): Progress {
  const status = object.status ?? {};
  if (status.phase === 'Healthy') return { state: 'complete' };
  if (status.phase === 'Degraded')
    return { state: 'failed', reason: `Degraded: ${status.message ?? 'the Rollout is degraded'}` };
  const desired = object.spec?.replicas ?? 1;
  return { state: 'progressing', updated: Math.min(status.updatedReplicas ?? 0, desired), desired };
}

export function rolloutProgress(kind: ProgressKind, status: WorkloadStatus): Progress {
  const desired = status.desired ?? 1;
  const progressing: Progress = { state: 'progressing', updated: Math.min(status.updated ?? 0, desired), desired };
  // Not yet seen by its controller: nothing of the new revision is out.
  if ((status.observedGeneration ?? 0) < (status.generation ?? 0)) return { ...progressing, updated: 0 };
  if (kind === 'Deployment' && status.stalledReason === 'ProgressDeadlineExceeded')
    return {
      state: 'failed',
      reason: 'ProgressDeadlineExceeded: the Deployment made no progress within its progressDeadlineSeconds',
    };
  return status.onDelete || !unfinished(kind, status) ? { state: 'complete' } : progressing;
}

/** Whether pods of an earlier revision are still there, or the new ones not all available. */
function unfinished(kind: ProgressKind, status: WorkloadStatus): boolean {
  return oldPodsLeft(kind, status) || (status.available ?? 0) < (status.desired ?? 1);
}

/** Whether pods of an earlier revision are still there (or not yet replaced). */
function oldPodsLeft(kind: ProgressKind, status: WorkloadStatus): boolean {
  if ((status.updated ?? 0) < (status.desired ?? 1)) return true;
  if (kind === 'Deployment') return (status.current ?? 0) > (status.updated ?? 0);
  return (
    kind === 'StatefulSet' && status.updateRevision !== undefined && status.currentRevision !== status.updateRevision
  );
}

/** The status fields rolloutProgress() reads, from a workload object as the API returns it. */
export function statusOf(kind: ProgressKind, object: RawWorkload): WorkloadStatus {
  const status = object.status ?? {};
  const common = {
    generation: object.metadata?.generation,
    observedGeneration: status.observedGeneration,
    onDelete: isOnDelete(object),
  };
  if (kind === 'DaemonSet')
    return {
      ...common,
      desired: status.desiredNumberScheduled,
      updated: status.updatedNumberScheduled,
      available: status.numberAvailable,
    };
  const pods = { desired: object.spec?.replicas ?? 1, updated: status.updatedReplicas, current: status.replicas };
  if (kind === 'StatefulSet')
    return {
      ...common,
      ...pods,
      available: status.readyReplicas,
      currentRevision: status.currentRevision,
      updateRevision: status.updateRevision,
    };
  const stalled = status.conditions?.find((c) => c.type === 'Progressing' && c.status === 'False')?.reason;
  return { ...common, ...pods, available: status.availableReplicas, stalledReason: stalled };
}

function isOnDelete(object: RawWorkload): boolean {
  return object.spec?.updateStrategy?.type === 'OnDelete';
}

/** A workload's fields that say how its rollout goes. */
export interface RawWorkload {
  metadata?: { generation?: number | undefined } | null;
  spec?: { replicas?: number | undefined; updateStrategy?: { type?: string } | null } | null;
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    readyReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
    desiredNumberScheduled?: number;
    updatedNumberScheduled?: number;
    /** Argo Rollouts: Healthy, Progressing, Paused, Degraded. */
    phase?: string;
    message?: string;
    numberAvailable?: number;
    conditions?: { type?: string; status?: string; reason?: string }[] | null;
  } | null;
}
