// Answers one admission request: decides whether the workload is confighash's to
// mutate, reads its sources live, and returns the patch that stamps the checksum
// annotations. Fails open: when anything goes wrong, the request is allowed
// unpatched with a warning, and the controller catches up afterwards.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import {
  ANNOTATION,
  checksumAnnotations,
  consumedSources,
  isIgnored,
  MISSING,
  type SourceId,
  type SourceState,
  type ValueHasher,
  WORKLOAD_KINDS,
} from '../checksum/index.ts';
import type { SourceReader } from '../kube/source-reader.ts';
import type { Metrics, WebhookResult } from '../metrics.ts';
import { templateAnnotationsPatch } from './patch.ts';
import type { AdmissionRequest, AdmissionResponse, PodTemplate, WorkloadObject } from './review.ts';

type MutableWorkload = WorkloadObject & { spec: { template: PodTemplate } };

interface Outcome {
  result: WebhookResult;
  response: AdmissionResponse;
}

const WORKLOAD_KIND_SET: ReadonlySet<string> = new Set(WORKLOAD_KINDS);

export interface AdmissionHandlerOptions {
  reader: SourceReader;
  hasher: ValueHasher;
  logger: Logger;
  metrics: Metrics;
  /** Namespaces never acted in: confighash's own and kube-system. */
  excludedNamespaces: ReadonlySet<string>;
}

export class AdmissionHandler {
  readonly #options: AdmissionHandlerOptions;

  constructor(options: AdmissionHandlerOptions) {
    this.#options = options;
  }

  async admit(request: AdmissionRequest): Promise<AdmissionResponse> {
    const { metrics } = this.#options;
    const started = process.hrtime.bigint();
    metrics.webhookInFlight.inc();
    let result: WebhookResult = 'error';
    try {
      const outcome = await this.#decide(request);
      result = outcome.result;
      return outcome.response;
    } finally {
      metrics.webhookInFlight.dec();
      metrics.webhookRequests.inc({ result });
      metrics.webhookDuration.observe({ result }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  async #decide(request: AdmissionRequest): Promise<Outcome> {
    const allowed: AdmissionResponse = { uid: request.uid, allowed: true };
    const workload = this.#workloadToMutate(request);
    if (!workload) return { result: 'skipped', response: allowed };
    const namespace = request.namespace ?? '';
    const sources = consumedSources(workload.spec.template.spec ?? {}, workload.metadata?.annotations ?? {});
    let states: Map<SourceId, SourceState>;
    try {
      states = await this.#options.reader.read(namespace, sources);
    } catch (error) {
      return this.#failOpen(request, error);
    }
    const digests = sources.map((source) =>
      this.#options.hasher.sourceDigest(source, states.get(source.id) ?? { exists: false }),
    );
    const patch = templateAnnotationsPatch(workload, checksumAnnotations(digests));
    const warnings = digests
      .filter((d) => d.digest === MISSING)
      .map((d) => `confighash: ${d.id} does not exist in namespace ${namespace}; the workload rolls once when it appears`);
    const response: AdmissionResponse = warnings.length > 0 ? { ...allowed, warnings } : allowed;
    if (patch.length === 0) return { result: 'unchanged', response };
    const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
    return { result: 'patched', response: { ...response, patchType: 'JSONPatch', patch: encoded } };
  }

  /** Allowed, unpatched, with a warning: the webhook never blocks a deployment. */
  #failOpen(request: AdmissionRequest, error: unknown): Outcome {
    const reason = error instanceof Error ? error.message : String(error);
    this.#options.logger.warn(
      { namespace: request.namespace, kind: request.kind.kind, name: request.name, err: reason },
      'admitted without checksum annotations: could not read sources; the controller will add them',
    );
    const warning = `confighash: could not read configuration (${reason}); the controller will add checksum annotations`;
    return { result: 'error', response: { uid: request.uid, allowed: true, warnings: [warning] } };
  }

  /** The workload in `request`, if it is one confighash mutates. */
  #workloadToMutate(request: AdmissionRequest): MutableWorkload | undefined {
    const workload = request.object;
    if (!this.#applies(request) || !workload?.spec?.template) return undefined;
    if (isIgnored(workload.metadata?.annotations) || isUnstampedAndUnchanged(request)) return undefined;
    return workload as MutableWorkload;
  }

  #applies(request: AdmissionRequest): boolean {
    const { group, version, kind } = request.kind;
    return (
      group === 'apps' &&
      version === 'v1' &&
      WORKLOAD_KIND_SET.has(kind) &&
      (request.operation === 'CREATE' || request.operation === 'UPDATE') &&
      !request.subResource &&
      !this.#options.excludedNamespaces.has(request.namespace ?? '')
    );
  }
}

/**
 * An UPDATE that leaves the pod template alone, of a workload whose template
 * confighash never stamped (one it adopted, or that predates it). Stamping now
 * would roll it out for a change that is not a configuration change (a scale,
 * a label); the controller rolls it on its next effective change instead.
 */
function isUnstampedAndUnchanged(request: AdmissionRequest): boolean {
  if (request.operation !== 'UPDATE') return false;
  const before = request.oldObject?.spec?.template;
  const after = request.object?.spec?.template;
  if (!before || before.metadata?.annotations?.[ANNOTATION.checksum] !== undefined) return false;
  return isDeepStrictEqual(before, after);
}
