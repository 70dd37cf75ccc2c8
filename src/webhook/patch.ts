// The JSONPatch that makes a workload's pod-template annotations carry the desired
// checksum annotations: built with fast-json-patch, which escapes the `/` in
// `confighash.dev/...` keys as `~1` and adds the annotations map when it is absent.
import fastJsonPatch from 'fast-json-patch';
import { ANNOTATION } from '../checksum/index.ts';
import type { WorkloadObject } from './review.ts';

export type Operation = fastJsonPatch.Operation;

const MANAGED_KEYS: readonly string[] = [ANNOTATION.checksum, ANNOTATION.sources];

/**
 * Operations that set the managed annotations to `desired` (removing any that
 * `desired` lacks) and leave every other annotation alone; empty when they already match.
 */
export function templateAnnotationsPatch(
  workload: WorkloadObject,
  desired: Readonly<Record<string, string>>,
): Operation[] {
  const metadata = workload.spec?.template?.metadata ?? undefined;
  const next = withManagedAnnotations(metadata?.annotations ?? {}, desired);
  // Leave an absent annotations map absent rather than adding an empty one.
  const unchangedShape = Object.keys(next).length === 0 && metadata?.annotations == null;
  const nextMetadata = unchangedShape ? metadata : { ...metadata, annotations: next };
  return fastJsonPatch.compare(templateWith(metadata), templateWith(nextMetadata));
}

function withManagedAnnotations(
  current: Readonly<Record<string, string>>,
  desired: Readonly<Record<string, string>>,
): Record<string, string> {
  const next = Object.fromEntries(Object.entries(current).filter(([key]) => !MANAGED_KEYS.includes(key)));
  return { ...next, ...desired };
}

/** A document holding only `spec.template.metadata`, for a patch rooted at the workload. */
function templateWith(metadata: object | undefined): object {
  return { spec: { template: metadata === undefined ? {} : { metadata } } };
}
