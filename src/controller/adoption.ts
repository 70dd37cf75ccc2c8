// What a workload's pods were started with, for a workload confighash adopts
// instead of stamping at admission (its namespace was outside the webhook's
// selector, or the webhook failed open). Its baseline must be the configuration as
// it was when the workload was created, not as it is when the controller gets to
// it: a source changed in between would otherwise be recorded as what the pods
// run, and never rolled out.
//
// Per consumed source, the state it had at the workload's creation is one of:
// - `current`: its digests now were already in effect (or it did not exist yet and
//   has not changed since it appeared: the pods could not start without it);
// - `previous`: the digests before its last change, which the store still holds;
// - `unknown`: it changed after the workload was created, and what it held before is
//   not known here. The baseline then records it as missing, so the workload rolls once.
//
// How "after" is known, exactly where it can be:
// - When the controller saw the workload's creation on its watch, the source's
//   versions are compared with the workload's creation resourceVersion. Both come
//   from one etcd revision counter in every cluster that keeps workloads and
//   ConfigMaps and Secrets in the same storage (the default); resourceVersions that
//   are not decimal integers are not compared.
// - Otherwise (the workload was created while confighash was down): digests that
//   took effect after the workload's latest write are after its creation too. Else
//   the API server's timestamps decide, to the second:
//   the source's last write (its managedFields) against the workload's creation. A
//   source written in a later second changed after it; one created in the same
//   second and not written since is what the pods read; one written in the same
//   second after it already existed may be either, and counts as changed (a rollout
//   too many rather than one missed). A workload created before confighash was
//   installed keeps today's rule (adopted as it is, nothing rolls): confighash
//   makes no claim about what happened before it existed.
// What remains: a source created in the same second as its workload and changed in
// that second too, before the workload's latest write, all while confighash was
// down, reads as unchanged.
import type { KeyDigests } from '../checksum/index.ts';
import { compareResourceVersions } from '../kube/resource-version.ts';
import type { SourceHistory } from '../sources/store.ts';

/** What is known of a workload's creation. */
export interface WorkloadCreation {
  /** The resourceVersion of its creation, when the controller's watch saw it created. */
  resourceVersion?: string | undefined;
  /** metadata.creationTimestamp, in ms (to the second). */
  at?: number | undefined;
  /** Its resourceVersion now: no earlier than its creation's. */
  latestResourceVersion?: string | undefined;
}

export type StateAtCreation = { kind: 'current' } | { kind: 'previous'; keys: KeyDigests } | { kind: 'unknown' };

const CURRENT: StateAtCreation = { kind: 'current' };
const UNKNOWN: StateAtCreation = { kind: 'unknown' };

/** The state `source` had when the workload was created; `installedAt` is when confighash was installed (ms). */
export function stateAtCreation(
  workload: WorkloadCreation,
  source: SourceHistory,
  installedAt: number | undefined,
): StateAtCreation {
  if (workload.resourceVersion !== undefined) {
    const ordered = byResourceVersion(workload.resourceVersion, source);
    if (ordered) return ordered;
  }
  return byTimestamps(workload, source, installedAt);
}

/** Undefined when the resourceVersions cannot be compared. */
function byResourceVersion(created: string, source: SourceHistory): StateAtCreation | undefined {
  const since = compareResourceVersions(source.keysSince, created);
  if (since === undefined) return undefined;
  if (since <= 0) return CURRENT;
  const appeared =
    source.createdResourceVersion === undefined
      ? undefined
      : compareResourceVersions(source.createdResourceVersion, created);
  if (appeared !== undefined && appeared > 0)
    return source.keysSince === source.createdResourceVersion ? CURRENT : UNKNOWN;
  if (source.previous) {
    const before = compareResourceVersions(source.previous.keysSince, created);
    if (before !== undefined && before <= 0) return { kind: 'previous', keys: source.previous.keys };
  }
  return UNKNOWN;
}

function byTimestamps(
  workload: WorkloadCreation,
  source: SourceHistory,
  installedAt: number | undefined,
): StateAtCreation {
  if (workload.at === undefined || (installedAt !== undefined && workload.at < installedAt)) return CURRENT;
  if (isAfter(source.keysSince, workload.latestResourceVersion) || source.writtenAt === undefined) return UNKNOWN;
  const created = second(workload.at);
  const written = second(source.writtenAt);
  // Written before the workload was created; or created no earlier than it, and not written in any later second: its first value.
  return written < created || (second(source.createdAt ?? NaN) === written && written >= created) ? CURRENT : UNKNOWN;
}

/** True when `a` is known to be a later resourceVersion than `b`. */
function isAfter(a: string, b: string | undefined): boolean {
  const order = b === undefined ? undefined : compareResourceVersions(a, b);
  return order !== undefined && order > 0;
}

function second(ms: number): number {
  return Math.floor(ms / 1000);
}
