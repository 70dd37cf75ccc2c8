// The stamp: the checksum and sources annotations a pod template carries, and the
// one rule the webhook, the controller and `status` share for it. A stamp that
// still describes the configuration, in the format it was written in, is kept
// as it is; otherwise the current configuration is stamped in the current format.
// So a new format or a new signing key rolls nothing, and only an effective change
// of configuration changes a template.
import {
  combinedChecksum,
  MAX_SOURCES_SUMMARY_LENGTH,
  MISSING,
  parseFormat,
  parseSourcesSummary,
  type SourceDigest,
  type SourceState,
  type StampFormat,
  sourcesSummary,
  type ValueHasher,
} from './digest.ts';
import type { ConsumedSource, SourceId } from './consumed-source.ts';

export interface Stamp {
  /** Absent only in a baseline recorded by the first release (its sources summary alone, v1). */
  checksum?: string;
  sources: string;
}

export interface Fingerprint {
  stamp: Stamp;
  digests: SourceDigest[];
}

/** Where a source's state comes from: the controller's store, or live reads. */
export type StateOf = (id: SourceId) => SourceState;

/** How an existing stamp compares with the configuration now. */
export type Verdict =
  { kind: 'current' } | { kind: 'changed'; changed: SourceId[] } | { kind: 'unverifiable'; reason: string };

export interface Subject {
  namespace: string;
  sources: readonly ConsumedSource[];
  stateOf: StateOf;
}

/** The stamp of `subject` in `format`; undefined when the format's key is gone or there are no sources. */
export function fingerprint(hasher: ValueHasher, format: StampFormat, subject: Subject): Fingerprint | undefined {
  const digests: SourceDigest[] = [];
  for (const source of subject.sources) {
    const digest = hasher.sourceDigest(format, subject.namespace, source, subject.stateOf(source.id));
    if (!digest) return undefined;
    digests.push(digest);
  }
  const checksum = combinedChecksum(format, digests);
  // v1 summaries were never shortened: a v1 stamp is verified as it was written.
  const summary = sourcesSummary(digests, format.version === 'v1' ? Infinity : MAX_SOURCES_SUMMARY_LENGTH);
  return checksum === undefined ? undefined : { stamp: { checksum, sources: summary }, digests };
}

/** The current configuration, stamped in the current format. */
export function currentFingerprint(hasher: ValueHasher, subject: Subject): Fingerprint | undefined {
  return fingerprint(hasher, hasher.currentFormat(), subject);
}

/** Whether `existing` still describes `subject`, judged in the format `existing` was written in. */
export function verify(hasher: ValueHasher, existing: Stamp, subject: Subject): Verdict {
  const format: StampFormat | undefined =
    existing.checksum === undefined ? { version: 'v1' } : parseFormat(existing.checksum);
  if (!format)
    return { kind: 'unverifiable', reason: `unknown checksum format "${existing.checksum?.slice(0, 12) ?? ''}"` };
  const now = fingerprint(hasher, format, subject);
  if (!now) {
    if (subject.sources.length === 0)
      return { kind: 'changed', changed: [...parseSourcesSummary(existing.sources).keys()] as SourceId[] };
    return {
      kind: 'unverifiable',
      reason: `signed with key ${format.version === 'v2' ? format.keyId : ''}, which this installation no longer has`,
    };
  }
  const same =
    existing.checksum === undefined ? existing.sources === now.stamp.sources : existing.checksum === now.stamp.checksum;
  return same ? { kind: 'current' } : { kind: 'changed', changed: changedIds(existing.sources, now.stamp.sources) };
}

/** The ids whose short digests differ between two sources summaries (in one format). */
export function changedIds(before: string, after: string): SourceId[] {
  const a = parseSourcesSummary(before);
  const b = parseSourcesSummary(after);
  return [...new Set([...a.keys(), ...b.keys()])].sort().filter((id) => a.get(id) !== b.get(id)) as SourceId[];
}

/**
 * The sources that are required (a pod cannot start without them), missing now,
 * and were present in `previous`: rolling now would replace running pods with
 * pods that cannot start.
 */
export function disappearedRequired(
  previous: Stamp,
  current: Fingerprint,
  sources: readonly ConsumedSource[],
): SourceId[] {
  const before = parseSourcesSummary(previous.sources);
  const required = new Set(sources.filter((s) => !s.optional).map((s) => s.id));
  return current.digests
    .filter((d) => d.digest === MISSING && required.has(d.id) && before.has(d.id) && before.get(d.id) !== MISSING)
    .map((d) => d.id);
}

/** The baseline annotation's value for `stamp`: its checksum and sources summary. */
export function formatBaseline(stamp: Stamp): string {
  return stamp.checksum === undefined ? stamp.sources : `${stamp.checksum} ${stamp.sources}`;
}

/** Reads a baseline annotation; the first release wrote the v1 sources summary alone. */
export function parseBaseline(value: string | undefined): Stamp | undefined {
  if (value === undefined) return undefined;
  const space = value.indexOf(' ');
  return space < 0 ? { sources: value } : { checksum: value.slice(0, space), sources: value.slice(space + 1) };
}

/**
 * `configmap/app (1f3a9c0e2b7d → 5e0c2f7a1b3d)` for each of `changed` (default:
 * every source whose short digest differs): short digests as stamped before and now.
 */
/** Each source whose short digest differs between two summaries, with both digests. */
export function sourceChanges(
  before: string | undefined,
  after: string,
): { source: SourceId; from: string | undefined; to: string | undefined }[] {
  const was = parseSourcesSummary(before);
  const now = parseSourcesSummary(after);
  return changedIds(before ?? '', after).map((source) => ({ source, from: was.get(source), to: now.get(source) }));
}

export function describeChanges(before: string | undefined, after: string, changed?: readonly SourceId[]): string[] {
  const was = parseSourcesSummary(before);
  const now = parseSourcesSummary(after);
  const ids = changed ?? changedIds(before ?? '', after);
  // The summaries list only their first sources when there are very many (see sourcesSummary).
  if (ids.length === 0) return ['sources the sources annotation does not list'];
  return ids.map((id) => `${id} (${was.get(id) ?? 'untracked'} → ${now.get(id) ?? 'untracked'})`);
}
