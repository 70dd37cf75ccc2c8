// Ordering of resourceVersions. Kubernetes 1.35 made them comparable (KEP-5504, GA):
// for objects of one resource, a resourceVersion is a decimal integer without
// leading zeros, and a larger one is a later write. Anything else (an older or
// another API server that serves opaque versions) is not ordered, and callers
// must then act as if they could not tell.

const DECIMAL = /^[1-9][0-9]*$/;

/** Negative, zero or positive as `a` is before, the same as, or after `b`; undefined when either is not ordered. */
export function compareResourceVersions(a: string, b: string): number | undefined {
  if (!DECIMAL.test(a) || !DECIMAL.test(b)) return undefined;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
