// Patches a workload the way confighash changes workloads: a JSON merge patch
// with field manager `confighash`, guarded by the resourceVersion the decision
// was made on (a 409 means "look again"), never a full update.
import type { KubeConfig } from '@kubernetes/client-node';
import { HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { ANNOTATION, atTemplatePath, WORKLOAD_APIS, type WorkloadKind } from '../checksum/index.ts';
import type { PatchesInFlight } from './patches-in-flight.ts';
import { apiPath, requestJson } from './raw.ts';
import { apiStatus, describeApiError, isConflict } from './errors.ts';

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  resourceVersion: string;
}

export interface PatchResult {
  generation: number | undefined;
}

export class ConflictError extends Error {
  override name = 'ConflictError';
}

/**
 * The API server refused the patch for what it is (invalid, too large, the
 * object gone): sending it again would be refused again, so it is not retried
 * until the workload or its sources change.
 */
export class PatchRejectedError extends Error {
  override name = 'PatchRejectedError';
}

/** Answers that no retry of the same patch can change. */
const PERMANENT_STATUSES: ReadonlySet<number> = new Set([400, 404, 413, 415, 422]);

const REQUEST_TIMEOUT_MS = 10_000;

export class WorkloadPatcher {
  readonly #config: KubeConfig;
  readonly #inFlight: PatchesInFlight | undefined;

  /** With `inFlight`, the stamps it writes are announced to this replica's webhook (see kube/patches-in-flight.ts). */
  constructor(config: KubeConfig, inFlight?: PatchesInFlight) {
    this.#config = config;
    this.#inFlight = inFlight;
  }

  /**
   * Applies `patch` (a merge patch; its `spec.template` is the pod template,
   * wherever the kind keeps it) if the workload is still at `ref.resourceVersion`;
   * answers the workload's generation as the patch left it.
   */
  async patch(ref: WorkloadRef, patch: { metadata?: object; spec?: { template?: object } }): Promise<PatchResult> {
    const spec = patch.spec?.template ? atTemplatePath(ref.kind, patch.spec.template) : {};
    const body = { ...patch, ...spec, metadata: { ...patch.metadata, resourceVersion: ref.resourceVersion } };
    const { group, version, resource } = WORKLOAD_APIS[ref.kind];
    const checksum = stampIn(patch.spec?.template);
    const done = checksum === undefined ? undefined : this.#inFlight?.begin(ref, checksum);
    try {
      const patched = await requestJson<{ metadata?: { generation?: number } }>(this.#config, {
        method: HttpMethod.PATCH,
        path: apiPath(`/apis/${group}/${version}`, 'namespaces', ref.namespace, resource, ref.name),
        query: { fieldManager: 'confighash' },
        body,
        // A merge patch, not a strategic one: custom resources (Argo Rollouts) take only this.
        contentType: 'application/merge-patch+json',
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      return { generation: patched.metadata?.generation };
    } catch (error) {
      throw patchError(`patch ${ref.kind.toLowerCase()} ${ref.namespace}/${ref.name}`, error);
    } finally {
      done?.();
    }
  }
}

/** The checksum a patch stamps on the pod template, if it stamps one. */
function stampIn(template: object | undefined): string | undefined {
  const checksum = (template as { metadata?: { annotations?: Record<string, unknown> } } | undefined)?.metadata?.annotations?.[ANNOTATION.checksum];
  return typeof checksum === 'string' ? checksum : undefined;
}

/** What the caller is to do about a failed patch: look again (a conflict), leave it (rejected for what it is), or retry. */
function patchError(what: string, error: unknown): Error {
  if (isConflict(error)) return new ConflictError(`${what}: it changed since it was read`, { cause: error });
  if (PERMANENT_STATUSES.has(apiStatus(error) ?? 0)) return new PatchRejectedError(describeApiError(what, error), { cause: error });
  return new Error(describeApiError(what, error), { cause: error });
}
