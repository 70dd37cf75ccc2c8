// A rollout's patch as a JSON Patch (RFC 6902) whose first operation tests the
// workload's metadata.generation, instead of a merge patch guarded by its
// resourceVersion.
//
// The generation moves with every change of the spec and with nothing else. A
// resourceVersion moves with every write, and kube-controller-manager writes a
// workload's status several times in the seconds after each rollout: a rollout
// decided then was refused with a conflict (after the webhook had been called
// for nothing), and waited for the watch to bring the newer version before it
// could patch again. The template a rollout stamps is part of the spec, so the
// generation is the guard that matters for exactly-once: a second rollout decided
// from a record that has not seen the first one's patch tests the old generation,
// and is refused.
//
// What the generation does not cover is the workload's own annotations (its
// metadata). A rollout's decision reads some of them (policies, a hold): one
// changed in the same milliseconds is seen on the next reconcile, as if it had
// been changed just after the rollout. Every annotation is set with `add`, which
// needs its map to exist (the caller knows it does); a removal is `add` then
// `remove`, which removes the key whether or not it is there.
import fastJsonPatch from 'fast-json-patch';

export type Operation = fastJsonPatch.Operation;

/** The annotations a rollout sets (a string) or removes (null), on the workload and on its pod template. */
export interface AnnotationChanges {
  workload: Readonly<Record<string, string | null>>;
  template: Readonly<Record<string, string | null>>;
}

/**
 * The operations that apply `changes` to a workload at `generation` whose pod
 * template is at `templatePath`; the API server refuses them all (422) when the
 * workload is at another generation.
 */
export function generationGuardedPatch(
  generation: number,
  templatePath: readonly string[],
  changes: AnnotationChanges,
): Operation[] {
  return [
    { op: 'test', path: '/metadata/generation', value: generation },
    ...annotationOperations(['metadata'], changes.workload),
    ...annotationOperations([...templatePath, 'metadata'], changes.template),
  ];
}

function annotationOperations(
  metadataPath: readonly string[],
  annotations: Readonly<Record<string, string | null>>,
): Operation[] {
  return Object.entries(annotations).flatMap(([name, value]): Operation[] => {
    const path = pointer([...metadataPath, 'annotations', name]);
    return value === null
      ? [
          { op: 'add', path, value: '' },
          { op: 'remove', path },
        ]
      : [{ op: 'add', path, value }];
  });
}

function pointer(segments: readonly string[]): string {
  return segments.map((segment) => `/${fastJsonPatch.escapePathComponent(segment)}`).join('');
}
