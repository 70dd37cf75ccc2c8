// What confighash tells the people and systems that listen (see notifier.ts):
// one notice per thing that happened to a workload's configuration. A notice is
// built only from names, key names, short digests, checksums, counts and
// reasons: there is no field a configuration value could travel in, so no sink
// can send one. Its id is derived from what it is about (type, workload, the
// configuration it concerns), so a receiver can drop a repeat.
import { createHash } from 'node:crypto';
import type { ApprovalChange } from '../policy/approval.ts';

/** The notice types, as sinks are configured with them; CloudEvents types are `dev.confighash.<type>`. */
export const NOTICE_TYPES = [
  'rollout.started',
  'rollout.completed',
  'rollout.failed',
  'rollout.deferred',
  'reload.succeeded',
  'reload.failed',
  'source.missing',
] as const;
export type NoticeType = (typeof NOTICE_TYPES)[number];

export interface NoticeWorkload {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

/** One source whose consumed keys changed: short digests before and after, and the key names when known. */
export type SourceChange = ApprovalChange;

/** Why a rollout started: a source changed, or a reload in place failed and reload-fallback is rollout. */
export type RolloutTrigger = 'configuration-change' | 'reload-failed';

export interface MissingSource {
  source: string;
  /** deleted (it existed before), absent (never created), invalid (no object can have that name) */
  state: 'deleted' | 'absent' | 'invalid';
}

export interface Notice {
  type: NoticeType;
  id: string;
  /** RFC 3339 */
  time: string;
  workload: NoticeWorkload;
  /** One sentence for a person. */
  summary: string;
  /** The configuration checksum the notice is about (the rollout's target). */
  checksum?: string;
  /** The checksum it replaces. */
  previousChecksum?: string;
  changes?: SourceChange[];
  trigger?: RolloutTrigger;
  /** Deferred: window, min_interval, previous_rollout or approval. Failed: why. */
  reason?: string;
  /** Deferred: until when or what it waits for. */
  detail?: string;
  durationSeconds?: number;
  pods?: number;
  missing?: MissingSource[];
}

export type NoticeFields = Omit<Notice, 'id' | 'time' | 'type' | 'workload' | 'summary'>;

/** Warnings are what someone may have to act on. */
export function isWarning(type: NoticeType): boolean {
  return type === 'rollout.failed' || type === 'reload.failed' || type === 'source.missing';
}

/**
 * A notice. `about` names what it concerns beyond its type and workload (a
 * rollout's checksum, a deferral's checksum and reason): the same `about` gives
 * the same id, on any replica.
 */
export function makeNotice(
  type: NoticeType,
  workload: NoticeWorkload,
  about: string,
  content: { summary: string } & NoticeFields,
): Notice {
  const id = createHash('sha256')
    .update([type, workload.uid, workload.namespace, workload.name, about].join('\n'))
    .digest('hex')
    .slice(0, 32);
  return { type, id, time: new Date().toISOString(), workload, ...content };
}

/** `v2:1a2b3c4d:5e6f7a8b9c0d`: a checksum cut to what a person compares. */
export function shortChecksum(checksum: string): string {
  const parts = checksum.split(':');
  const digest = parts.pop() ?? '';
  return [...parts, digest.slice(0, 12)].join(':');
}
