// Patches a workload the way confighash changes workloads, with field manager
// `confighash`, never a full update: a JSON merge patch guarded by the
// resourceVersion the decision was made on, or, for a rollout's stamp, a JSON
// Patch guarded by the generation (see workloads/generation-guarded-patch.ts). A
// ConflictError means "look again".
import type { KubeConfig } from '@kubernetes/client-node';
import { ANNOTATION, atTemplatePath, templatePath, WORKLOAD_APIS, type WorkloadKind } from '../checksum/index.ts';
import type { PatchesInFlight, PatchGuard } from './patches-in-flight.ts';
import { type AnnotationChanges, generationGuardedPatch } from './generation-guarded-patch.ts';
import { apiPath, ApiRequestError, requestJson } from '../kube/raw.ts';
import { apiStatus, describeApiError, isConflict } from '../kube/errors.ts';

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  resourceVersion: string;
  /** metadata.generation, when the object has one. */
  generation?: number | undefined;
  /** Whether its annotations maps exist (have a key): the workload's, and its pod template's. */
  annotated?: { workload: boolean; template: boolean };
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

const JSON_PATCH = 'application/json-patch+json';

export class WorkloadPatcher {
  readonly #config: KubeConfig;
  readonly #inFlight: PatchesInFlight | undefined;

  /** With `inFlight`, the stamps it writes are announced to this replica's webhook (see workloads/patches-in-flight.ts). */
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
    // A merge patch, not a strategic one: custom resources (Argo Rollouts) take only this.
    return this.#send(
      ref,
      { guard: { resourceVersion: ref.resourceVersion }, checksum: stampIn(patch.spec?.template) },
      body,
      'application/merge-patch+json',
    );
  }

  /**
   * A rollout's annotations, on the workload and its pod template: guarded by
   * the workload's generation when its annotations maps exist (the operations
   * need them), else a merge patch guarded by its resourceVersion.
   */
  async stamp(ref: WorkloadRef, changes: AnnotationChanges): Promise<PatchResult> {
    const { generation, annotated } = ref;
    if (!generation || !annotated?.workload || !annotated.template) {
      return this.patch(ref, {
        metadata: { annotations: changes.workload },
        spec: { template: { metadata: { annotations: changes.template } } },
      });
    }
    const operations = generationGuardedPatch(generation, templatePath(ref.kind), changes);
    const checksum = changes.template[ANNOTATION.checksum] ?? undefined;
    return this.#send(ref, { guard: { generation }, checksum }, operations, JSON_PATCH);
  }

  /** Sends the patch `body`; `stamping` says what it is guarded on, and what it stamps on the template (announced to the webhook). */
  async #send(
    ref: WorkloadRef,
    stamping: { guard: PatchGuard; checksum: string | undefined },
    body: unknown,
    contentType: string,
  ): Promise<PatchResult> {
    const { guard, checksum } = stamping;
    const { group, version, resource } = WORKLOAD_APIS[ref.kind];
    const done = checksum === undefined ? undefined : this.#inFlight?.begin(ref, guard, checksum);
    try {
      const patched = await requestJson<{ metadata?: { generation?: number } }>(this.#config, {
        method: 'PATCH',
        path: apiPath(`/apis/${group}/${version}`, 'namespaces', ref.namespace, resource, ref.name),
        query: { fieldManager: 'confighash' },
        body,
        contentType,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      return { generation: patched.metadata?.generation };
    } catch (error) {
      throw patchError(
        `patch ${ref.kind.toLowerCase()} ${ref.namespace}/${ref.name}`,
        error,
        contentType === JSON_PATCH,
      );
    } finally {
      done?.();
    }
  }
}

/** The checksum a patch stamps on the pod template, if it stamps one. */
function stampIn(template: object | undefined): string | undefined {
  const checksum = (template as { metadata?: { annotations?: Record<string, unknown> } } | undefined)?.metadata
    ?.annotations?.[ANNOTATION.checksum];
  return typeof checksum === 'string' ? checksum : undefined;
}

/** What the caller is to do about a failed patch: look again (a conflict), leave it (rejected for what it is), or retry. */
function patchError(what: string, error: unknown, jsonPatch: boolean): Error {
  if (isConflict(error)) return new ConflictError(`${what}: it changed since it was read`, { cause: error });
  if (jsonPatch && isInapplicable(error))
    return new ConflictError(`${what}: it changed since it was read (the JSON Patch's test failed)`, { cause: error });
  if (PERMANENT_STATUSES.has(apiStatus(error) ?? 0))
    return new PatchRejectedError(describeApiError(what, error), { cause: error });
  return new Error(describeApiError(what, error), { cause: error });
}

/**
 * A JSON Patch the API server could not apply to the object as it is now (a
 * failed test, a path that is not there): 422 with a bare Status. A validation
 * error is a 422 too, and lists its causes.
 */
function isInapplicable(error: unknown): boolean {
  return error instanceof ApiRequestError && error.status === 422 && error.causes === 0;
}
