// The names confighash reads and writes on Kubernetes objects (SPEC.md), in one place.

const PREFIX = 'confighash.dev';

export const ANNOTATION = {
  /** Pod template: the combined checksum, `v1:<hex>`. */
  checksum: `${PREFIX}/checksum`,
  /** Pod template: a short digest per source, e.g. `configmap/app=1f3a9c0e2b7d,secret/db=missing`. */
  sources: `${PREFIX}/sources`,
  /** Workload: `"true"` means never mutate or roll it. */
  ignore: `${PREFIX}/ignore`,
  /** Workload: sources not to track, `configmap/a, secret/b`. */
  exclude: `${PREFIX}/exclude`,
  /** Workload: extra sources to track though the pod spec does not reference them. */
  include: `${PREFIX}/include`,
} as const;

export const NAMESPACE_LABEL = `${PREFIX}/enabled`;

/** Workload metadata annotation: the sources summary when an unstamped workload was adopted. */
export const BASELINE_ANNOTATION = `${PREFIX}/baseline`;

/** Workload metadata annotations that record confighash's config rollouts, so that any replica can follow them. */
export const ROLLOUT_ANNOTATION = {
  /** `<checksum> <RFC 3339>`: the config rollout confighash last started, and when. */
  started: `${PREFIX}/rollout`,
  /** `complete <RFC 3339>` or `failed <RFC 3339> <reason>`: how it ended. */
  result: `${PREFIX}/rollout-result`,
  /** `<checksum> <reason> <detail>`: why a config rollout to `<checksum>` is held back. */
  deferred: `${PREFIX}/deferred`,
} as const;

/** The Secret holding the per-installation HMAC key, in confighash's namespace. */
export const HMAC_KEY_SECRET = 'confighash-hmac-key';

export function isIgnored(annotations: Readonly<Record<string, string>> | undefined | null): boolean {
  return annotations?.[ANNOTATION.ignore] === 'true';
}
