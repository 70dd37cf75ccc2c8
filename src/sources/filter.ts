// Which ConfigMaps and Secrets count, and how, as the controller's store and the
// webhook's live reads both judge it: a source --resource-label-selector does
// not select, or that carries reloader.stakater.com/ignore (with
// --reloader-annotations), counts as holding no keys, so its edits change no
// stamp; reloader.stakater.com/match is noted for workloads with Reloader's search.
import {
  type KeyDigests,
  type SourceKind,
  type SourceObject,
  type ValueHasher,
  RELOADER_ANNOTATION,
} from '../checksum/index.ts';
import { type LabelSelector, selects } from '../scope/label-selector.ts';

export interface SourceFilter {
  /** Only these count (an empty selector: every source). */
  selector: LabelSelector;
  /** Whether reloader.stakater.com/ignore and /match are read. */
  reloaderAnnotations: boolean;
}

export type FilteredSource = SourceObject & {
  metadata?: {
    labels?: Readonly<Record<string, string>> | null;
    annotations?: Readonly<Record<string, string>> | null;
    resourceVersion?: string;
  } | null;
};

const NO_KEYS: KeyDigests = new Map();

/** The source's digests as they count, and whether it carries Reloader's match. */
export function countedKeys(
  hasher: ValueHasher,
  kind: SourceKind,
  object: FilteredSource,
  filter: SourceFilter | undefined,
): { keys: KeyDigests; matched: boolean } {
  const annotations = filter?.reloaderAnnotations ? (object.metadata?.annotations ?? {}) : {};
  const ignored = annotations[RELOADER_ANNOTATION.ignore] === 'true' || !selects(filter?.selector, object);
  return {
    keys: ignored ? NO_KEYS : hasher.keyDigests(kind, object),
    matched: annotations[RELOADER_ANNOTATION.match] === 'true',
  };
}
