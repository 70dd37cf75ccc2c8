// The checksum engine: what a pod template consumes and the digests of it. Pure,
// and shared by the webhook and the controller so both always compute the same value.
import { ANNOTATION } from './annotations.ts';
import { combinedChecksum, type SourceDigest, sourcesSummary } from './digest.ts';

export * from './annotations.ts';
export * from './digest.ts';
export * from './sources.ts';

/** The pod-template annotations for these source digests; none when there are no sources. */
export function checksumAnnotations(digests: readonly SourceDigest[]): Record<string, string> {
  const checksum = combinedChecksum(digests);
  if (checksum === undefined) return {};
  return { [ANNOTATION.checksum]: checksum, [ANNOTATION.sources]: sourcesSummary(digests) };
}
