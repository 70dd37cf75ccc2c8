// The JSONPatch that turns a workload's pod template into the one confighash wants:
// its stamp in the template's annotations and, with the reload strategy, the agent
// injected (or taken out). Built with fast-json-patch, which escapes the `/` in
// `confighash.dev/...` keys as `~1` and adds the annotations map when it is absent.
import fastJsonPatch from 'fast-json-patch';
import { ANNOTATION } from '../checksum/index.ts';
import type { PodTemplate, WorkloadObject } from './review.ts';

export type Operation = fastJsonPatch.Operation;

const MANAGED_KEYS: readonly string[] = [ANNOTATION.checksum, ANNOTATION.sources];

/**
 * Operations that make the workload's template `template`, with the stamp's
 * annotations set to `desired` (removing any that `desired` lacks, leaving every
 * other annotation alone; undefined leaves them as `template` has them); empty
 * when the workload already matches.
 */
export function templatePatch(
  workload: WorkloadObject,
  template: PodTemplate,
  desired?: Readonly<Record<string, string>>,
): Operation[] {
  const metadata = template.metadata ?? undefined;
  const stamped = desired === undefined ? metadata : withStamp(metadata, desired);
  const next: PodTemplate = { ...template };
  if (stamped === undefined) delete next.metadata;
  else next.metadata = stamped;
  return fastJsonPatch.compare({ spec: { template: workload.spec?.template ?? {} } }, { spec: { template: next } });
}

/** templatePatch() of the workload's own template: only the stamp's annotations change. */
export function templateAnnotationsPatch(
  workload: WorkloadObject,
  desired: Readonly<Record<string, string>>,
): Operation[] {
  return templatePatch(workload, workload.spec?.template ?? {}, desired);
}

function withStamp(
  metadata: PodTemplate['metadata'],
  desired: Readonly<Record<string, string>>,
): PodTemplate['metadata'] {
  const kept = Object.fromEntries(
    Object.entries(metadata?.annotations ?? {}).filter(([key]) => !MANAGED_KEYS.includes(key)),
  );
  const annotations = { ...kept, ...desired };
  // Leave an absent annotations map absent rather than adding an empty one.
  if (Object.keys(annotations).length === 0 && metadata?.annotations == null) return metadata;
  return { ...metadata, annotations };
}
