// What a workload consumes of one ConfigMap or Secret: the type every part of the
// checksum engine shares (sources.ts finds them, digest.ts digests them).
export type SourceKind = 'configmap' | 'secret';

/** `configmap/<name>` or `secret/<name>`, in the workload's namespace. */
export type SourceId = `${SourceKind}/${string}`;

/** The keys a workload consumes of one source: all of them, or a named few. */
export type KeySelection = { all: true } | { all: false; keys: ReadonlySet<string> };

/** Where a source is referenced, e.g. `containers[app].envFrom`, `volumes[config]`. */
export type ReferenceSite = string;

export interface ConsumedSource {
  id: SourceId;
  kind: SourceKind;
  name: string;
  keys: KeySelection;
  sites: readonly ReferenceSite[];
  /**
   * True when every reference is `optional: true` (or the include annotation):
   * pods start without the object. A required source that disappears must not
   * roll the workload, whose new pods could not start.
   */
  optional: boolean;
  /**
   * Reloader's `search`: the source counts only while it carries
   * reloader.stakater.com/match: "true"; otherwise as if it held no keys.
   */
  requiresMatch?: boolean;
}
