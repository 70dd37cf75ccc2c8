// Patches a workload the way confighash changes workloads: a JSON merge patch
// with field manager `confighash`, guarded by the resourceVersion the decision
// was made on (a 409 means "look again"), never a full update.
import { type AppsV1Api, type BatchV1Api, HttpMethod, type KubeConfig } from '@kubernetes/client-node';
import { atTemplatePath, WORKLOAD_APIS, type WorkloadKind } from '../checksum/index.ts';
import { apiPath, requestJson } from './raw.ts';
import { PatchStrategy, patchAs, withTimeout } from './client.ts';
import { apiStatus, describeApiError, isConflict } from './errors.ts';

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
  resourceVersion: string;
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
  readonly #apps: AppsV1Api;
  readonly #batch: BatchV1Api;
  /** For custom resources (Argo Rollouts), which have no generated client. */
  readonly #config: KubeConfig;

  constructor(apps: AppsV1Api, batch: BatchV1Api, config: KubeConfig) {
    this.#apps = apps;
    this.#batch = batch;
    this.#config = config;
  }

  /**
   * Applies `patch` (a merge patch; its `spec.template` is the pod template,
   * wherever the kind keeps it) if the workload is still at `ref.resourceVersion`.
   */
  async patch(ref: WorkloadRef, patch: { metadata?: object; spec?: { template?: object } }): Promise<void> {
    const spec = patch.spec?.template ? atTemplatePath(ref.kind, patch.spec.template) : {};
    const body = { ...patch, ...spec, metadata: { ...patch.metadata, resourceVersion: ref.resourceVersion } };
    const request = { name: ref.name, namespace: ref.namespace, body, fieldManager: 'confighash' };
    const options = patchAs(PatchStrategy.MergePatch, withTimeout(REQUEST_TIMEOUT_MS));
    try {
      await this.#send(ref.kind, request, options);
    } catch (error) {
      const what = `patch ${ref.kind.toLowerCase()} ${ref.namespace}/${ref.name}`;
      if (isConflict(error)) throw new ConflictError(`${what}: it changed since it was read`, { cause: error });
      if (PERMANENT_STATUSES.has(apiStatus(error) ?? 0)) throw new PatchRejectedError(describeApiError(what, error), { cause: error });
      throw new Error(describeApiError(what, error), { cause: error });
    }
  }

  async #send(kind: WorkloadKind, request: { name: string; namespace: string; body: object; fieldManager: string }, options: ReturnType<typeof patchAs>): Promise<void> {
    if (kind === 'Deployment') await this.#apps.patchNamespacedDeployment(request, options);
    else if (kind === 'StatefulSet') await this.#apps.patchNamespacedStatefulSet(request, options);
    else if (kind === 'DaemonSet') await this.#apps.patchNamespacedDaemonSet(request, options);
    else if (kind === 'CronJob') await this.#batch.patchNamespacedCronJob(request, options);
    else await this.#patchCustom(kind, request);
  }

  /** A merge patch as raw JSON: custom resources take merge patches, not strategic ones. */
  async #patchCustom(kind: WorkloadKind, request: { name: string; namespace: string; body: object; fieldManager: string }): Promise<void> {
    const { group, version, resource } = WORKLOAD_APIS[kind];
    await requestJson(this.#config, {
      method: HttpMethod.PATCH,
      path: apiPath(`/apis/${group}/${version}`, 'namespaces', request.namespace, resource, request.name),
      query: { fieldManager: request.fieldManager },
      body: request.body,
      contentType: 'application/merge-patch+json',
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
  }
}
