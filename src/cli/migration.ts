// What confighash will do with a workload that carries stakater Reloader's
// annotations, and where that differs from what Reloader does (pure; the
// command is migrate-check.ts).
import {
  type ConsumedSource,
  consumedSources,
  isReloaderWorkload,
  type PodSpecLike,
  podTemplateOf,
  trackingAnnotations,
  type WorkloadKind,
} from '../checksum/index.ts';

export interface MigrationEntry {
  namespace: string;
  kind: WorkloadKind;
  name: string;
  /** The Reloader annotations it carries, `key=value`. */
  reloader: string[];
  /** What confighash counts: `configmap/app (keys LEVEL)`. */
  counts: string[];
  /** Where confighash behaves differently from Reloader, or does not act. */
  notes: string[];
}

export interface MigrationWorkload {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> } | null;
}

/** Reloader annotations confighash does not read. */
const UNREAD: Record<string, string> = {
  'reloader.stakater.com/rollout-strategy':
    "not read: confighash always rolls by patching the pod template's annotations",
};

/** The entry for `workload`, or undefined when it carries no Reloader annotation. */
export function migrationEntry(
  kind: WorkloadKind,
  workload: MigrationWorkload,
  namespaceSelected: boolean,
): MigrationEntry | undefined {
  const { annotations, templateAnnotations, spec } = partsOf(kind, workload);
  const reloader = [
    ...reloaderEntries(annotations, ''),
    ...reloaderEntries(templateAnnotations, ' (on the pod template)'),
  ];
  if (reloader.length === 0) return undefined;
  const tracking = trackingAnnotations(kind, annotations, true, templateAnnotations);
  const sources = consumedSources(spec, tracking);
  const tracked = namespaceSelected || isReloaderWorkload(tracking);
  const { namespace = '', name = '' } = workload.metadata ?? {};
  return {
    namespace,
    kind,
    name,
    reloader,
    counts: tracked ? sources.map(describe) : [],
    notes: notes(annotations, { tracked, namespaceSelected, keyScoped: sources.some((s) => !s.keys.all) }),
  };
}

interface TemplateLike {
  metadata?: { annotations?: Record<string, string> | null } | null;
  spec?: PodSpecLike;
}

/** The workload's own annotations, its pod template's, and its pod spec. */
function partsOf(
  kind: WorkloadKind,
  workload: MigrationWorkload,
): { annotations: Record<string, string>; templateAnnotations: Record<string, string>; spec: PodSpecLike } {
  const template = (podTemplateOf(kind, workload) as TemplateLike | undefined) ?? {};
  return {
    annotations: workload.metadata?.annotations ?? {},
    templateAnnotations: template.metadata?.annotations ?? {},
    spec: template.spec ?? {},
  };
}

/** `key=value` for each of Reloader's annotations, with where it was found. */
function reloaderEntries(annotations: Readonly<Record<string, string>>, where: string): string[] {
  return Object.entries(annotations)
    .filter(([key]) => key.includes('reloader.stakater.com/'))
    .map(([key, value]) => `${key}=${value}${where}`);
}

/** `configmap/app (keys LEVEL)`. */
function describe(source: ConsumedSource): string {
  const keys = source.keys.all ? 'every key' : `keys ${[...source.keys.keys].join(', ')}`;
  return `${source.id} (${keys}${source.requiresMatch ? ', while it carries reloader.stakater.com/match' : ''})`;
}

function notes(
  annotations: Readonly<Record<string, string>>,
  facts: { tracked: boolean; namespaceSelected: boolean; keyScoped: boolean },
): string[] {
  const found: string[] = [];
  if (!facts.tracked)
    found.push(
      'not tracked: no Reloader annotation asks for anything (auto is "false"), and its namespace is not selected',
    );
  else if (!facts.namespaceSelected)
    found.push(
      'its namespace is not selected: the controller adopts it and stamps it on its first configuration change (no admission stamp)',
    );
  if (facts.tracked && facts.keyScoped)
    found.push('rolls only when a consumed key changes (Reloader restarts on any key of a referenced source)');
  for (const [key, note] of Object.entries(UNREAD)) if (annotations[key] !== undefined) found.push(`${key}: ${note}`);
  return found;
}
