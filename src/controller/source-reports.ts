// What the reconciler reports of a workload's sources, once per condition and
// workload, however many sources it concerns: required sources that do not exist
// (one Warning per disappearance, all of a reconcile's in one Event, and a notice
// if still true after a grace period), and a workload consuming more sources than
// confighash tracks. Optional sources may be absent by design: never reported.
import type { Logger } from 'pino';
import {
  type Fingerprint,
  isValidObjectName,
  MISSING,
  parseSourcesSummary,
  type SourceId,
  type Stamp,
  tooManySourcesMessage,
} from '../checksum/index.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { NoticePublisher } from '../notify/notifier.ts';
import { HeldNotices } from './held-notices.ts';
import { sourceMissing } from './notices.ts';
import { type WorkloadRecord, type WorkloadStore, workloadEventTarget } from './workload-store.ts';

export interface SourceReportsOptions {
  /** Whether a workload still exists when its held notice is due. */
  workloads: Pick<WorkloadStore, 'get'>;
  events: Pick<EventRecorder, 'record'>;
  notices?: NoticePublisher | undefined;
  /** How long a missing-source notice waits to be sure (default 30 s). */
  missingNoticeGraceMs?: number | undefined;
  logger: Logger;
}

/** Source ids listed in one Event; the rest are counted. */
const MAX_LISTED = 10;
/** A missing source is told if it is still missing, and its workload still there, this much later. */
const MISSING_NOTICE_GRACE_MS = 30_000;

interface MissingSources {
  deleted: SourceId[];
  absent: SourceId[];
  invalid: SourceId[];
}

export class SourceReports {
  readonly #options: SourceReportsOptions;
  /** Per workload, the sources already reported missing. */
  readonly #reportedMissing = new Map<string, Set<string>>();
  /** Workloads already reported as consuming too many sources. */
  readonly #reportedTooMany = new Set<string>();
  /** Missing-source notices, told only if still true after a grace period (see held-notices.ts). */
  readonly #heldMissing: HeldNotices | undefined;

  constructor(options: SourceReportsOptions) {
    this.#options = options;
    this.#heldMissing =
      options.notices && new HeldNotices(options.notices, options.missingNoticeGraceMs ?? MISSING_NOTICE_GRACE_MS);
  }

  /** Reports the required sources of `current` newly missing; `previous` (the stamp before) tells a deletion from a source never created. */
  missing(record: WorkloadRecord, current: Fingerprint, previous: Stamp | undefined): void {
    const reported = this.#reportedMissing.get(record.key) ?? new Set<string>();
    const required = new Set(record.sources.filter((s) => !s.optional).map((s) => s.id));
    const before = parseSourcesSummary(previous?.sources);
    const news: MissingSources = { deleted: [], absent: [], invalid: [] };
    for (const { id, digest } of current.digests) {
      if (digest !== MISSING || !required.has(id)) {
        reported.delete(id);
      } else if (!reported.has(id)) {
        reported.add(id);
        news[missingKind(id, before)].push(id);
      }
    }
    if (reported.size > 0) this.#reportedMissing.set(record.key, reported);
    else this.#reportedMissing.delete(record.key);
    const message = missingMessage(news);
    if (message) this.#report(record, current, news, message);
  }

  /** Reports, once, that the workload consumes more sources than confighash tracks. */
  tooMany(record: WorkloadRecord): void {
    if (this.#reportedTooMany.has(record.key)) return;
    this.#reportedTooMany.add(record.key);
    this.#options.logger.warn(
      { workload: record.key, sources: record.consumedCount },
      'not tracking the workload: it consumes too many sources',
    );
    this.#options.events.record(
      workloadEventTarget(record),
      'Warning',
      'TooManySources',
      `Not tracked: ${tooManySourcesMessage(record.consumedCount)}.`,
    );
  }

  forget(key: string): void {
    this.#reportedMissing.delete(key);
    this.#reportedTooMany.delete(key);
    this.#heldMissing?.cancel(key);
  }

  stop(): void {
    this.#heldMissing?.stop();
  }

  #report(record: WorkloadRecord, current: Fingerprint, news: MissingSources, message: string): void {
    this.#options.logger.warn(
      { workload: record.key, missing: message },
      'required sources of the workload do not exist',
    );
    this.#options.events.record(workloadEventTarget(record), 'Warning', 'MissingSource', message);
    const missing = (Object.keys(news) as (keyof MissingSources)[]).flatMap((state) =>
      news[state].map((source) => ({ source, state })),
    );
    const stillMissing = (): boolean =>
      this.#options.workloads.get(record.key) !== undefined &&
      missing.some(({ source }) => this.#reportedMissing.get(record.key)?.has(source));
    this.#heldMissing?.hold(record.key, sourceMissing(record, missing, current.stamp.checksum), stillMissing);
  }
}

/** Why a required source is missing: deleted (it was there before), never created, or a name no object can have. */
function missingKind(id: SourceId, before: ReadonlyMap<string, string>): keyof MissingSources {
  if (!isValidObjectName(id.slice(id.indexOf('/') + 1))) return 'invalid';
  return before.has(id) && before.get(id) !== MISSING ? 'deleted' : 'absent';
}

/** What each kind of missing source means, said of one source or of several. */
const MISSING_PHRASES: Record<keyof MissingSources, (one: boolean, first: string) => string> = {
  deleted: (one, first) =>
    `${one ? 'was' : 'were'} deleted: the workload is not rolled (new pods could not start); it rolls once when ${one ? `${first} exists` : 'they exist'} again with different content`,
  absent: (one) =>
    `${one ? 'does' : 'do'} not exist; ${one ? 'its digest is' : 'their digests are'} "missing" until created, and then the workload rolls once`,
  invalid: (one) =>
    `${one ? 'is not a valid name' : 'are not valid names'} for a ConfigMap or Secret: recorded as "missing", never read`,
};

/** One message for every source newly found missing, by what that means; undefined when there are none. */
function missingMessage(missing: MissingSources): string | undefined {
  const parts = (Object.keys(MISSING_PHRASES) as (keyof MissingSources)[])
    .filter((kind) => missing[kind].length > 0)
    .map(
      (kind) => `${listed(missing[kind])} ${MISSING_PHRASES[kind](missing[kind].length === 1, missing[kind][0] ?? '')}`,
    );
  return parts.length > 0 ? parts.join('. ') : undefined;
}

/** `a, b, c and 12 more`. */
function listed(ids: readonly SourceId[]): string {
  const shown = ids.slice(0, MAX_LISTED).join(', ');
  return ids.length > MAX_LISTED ? `${shown} and ${ids.length - MAX_LISTED} more` : shown;
}
