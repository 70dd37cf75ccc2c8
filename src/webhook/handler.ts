// Answers one admission request: decides whether the workload is confighash's to
// mutate (a tracked namespace, a workload it handles), shapes its template (the
// reload agent injected, kept or taken out), reads its sources live within a
// deadline inside the API server's own timeout, and returns the patch that stamps
// the checksum annotations. Fails open: when anything goes wrong, the
// request is allowed unpatched with a warning, and the controller catches up.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import {
  ANNOTATION,
  boundedAnnotations,
  consumedSources,
  currentFingerprint,
  isIgnored,
  isValidObjectName,
  MAX_SOURCES_PER_WORKLOAD,
  reloadedVolumes,
  type Stamp,
  type Subject,
  tooManySourcesMessage,
  type ValueHasher,
  verify,
  WORKLOAD_APIS,
  type WorkloadKind,
  workloadKindOf,
} from '../checksum/index.ts';
import type { AdmittedTarget, PatchesInFlight } from '../workloads/patches-in-flight.ts';
import type { SourceReader } from '../sources/reader.ts';
import type { Metrics, WebhookResult } from '../telemetry/metrics.ts';
import { rolloutPolicy } from '../policy/gate.ts';
import type { AdmissionScope, NamespaceInScope } from '../scope/admission-scope.ts';
import { templatePatch } from './patch.ts';
import { shapeTemplate, type ShapedTemplate } from './reload-agent.ts';
import type { AdmissionRequest, AdmissionResponse, PodTemplate, WorkloadObject } from './review.ts';
import { relocatedPatch, requestView } from './workload-view.ts';

type MutableWorkload = WorkloadObject & { spec: { template: PodTemplate } };

interface Outcome {
  result: WebhookResult;
  response: AdmissionResponse;
}

export interface AdmissionHandlerOptions {
  reader: SourceReader;
  hasher: ValueHasher;
  logger: Logger;
  metrics: Metrics;
  /**
   * The namespaces the webhook answers for: those its namespaceSelector selects, and no other —
   * not even for a workload with Reloader's annotations (the controller adopts those elsewhere),
   * so a direct caller cannot make it read a Secret of a namespace that never opted in. The
   * namespaces' defaults are the rollout policies checked at admission.
   */
  scope: Pick<AdmissionScope, 'lookUp'>;
  /** The live reads of one admission must be done by then: well inside the API server's timeout. */
  deadlineMs: number;
  /** The image the reload agent runs (confighash's own); without it, nothing is reloaded in place. */
  agentImage?: string;
  /** --reloader-annotations: Reloader's annotations are read, and their workloads tracked in any namespace. */
  reloaderAnnotations?: boolean;
  /** The stamps this replica's controller is writing: admitted without reading their sources again. */
  ownPatches?: Pick<PatchesInFlight, 'isOwn'>;
}

export class AdmissionHandler {
  readonly #options: AdmissionHandlerOptions;

  constructor(options: AdmissionHandlerOptions) {
    this.#options = options;
  }

  /** Never throws: whatever goes wrong is answered "allowed, no patch" with a warning. */
  async admit(request: AdmissionRequest): Promise<AdmissionResponse> {
    const { metrics } = this.#options;
    const started = process.hrtime.bigint();
    metrics.webhookInFlight.inc();
    let outcome: Outcome;
    try {
      outcome = await this.#decide(request);
    } catch (error) {
      outcome = this.#failOpen(request, 'could not compute the checksum', error);
    } finally {
      metrics.webhookInFlight.dec();
    }
    metrics.webhookRequests.inc({ result: outcome.result });
    metrics.webhookDuration.observe({ result: outcome.result }, Number(process.hrtime.bigint() - started) / 1e9);
    return outcome.response;
  }

  async #decide(received: AdmissionRequest): Promise<Outcome> {
    const allowed: AdmissionResponse = { uid: received.uid, allowed: true };
    const kind = this.#applies(received);
    if (!kind) return { result: 'skipped', response: allowed };
    const request = requestView(kind, received, this.#options.reloaderAnnotations ?? false);
    const workload = this.#workloadToMutate(request);
    if (!workload) return { result: 'skipped', response: allowed };
    const namespace = await this.#options.scope.lookUp(received.namespace ?? '');
    if (!namespace) return { result: 'skipped', response: allowed };
    const shaped = shapeTemplate(
      workload.spec.template,
      previousTemplate(request),
      workload.metadata?.annotations ?? {},
      this.#options.agentImage,
    );
    const outcome = this.#isOwnPatch(request, workload, shaped)
      ? this.#stampOwn(request, workload, shaped)
      : await this.#readAndStamp(request, workload, shaped);
    return withWarnings(outcome, annotationWarnings(received, namespace));
  }

  /** Reads the sources the template consumes, and stamps it from what they hold. */
  async #readAndStamp(request: AdmissionRequest, workload: MutableWorkload, shaped: ShapedTemplate): Promise<Outcome> {
    const annotations = workload.metadata?.annotations ?? {};
    const spec = shaped.fresh.spec ?? {};
    const sources = consumedSources(spec, annotations, reloadedVolumes(spec, annotations));
    if (sources.length > MAX_SOURCES_PER_WORKLOAD) return tooMany({ uid: request.uid, allowed: true }, sources.length);
    const subject = await this.#read(request.namespace ?? '', sources).catch((error: unknown) => error as Error);
    if (subject instanceof Error) return this.#failOpen(request, 'could not read configuration', subject);
    return this.#stamp(request, workload, shaped, subject);
  }

  /**
   * The patch that stamps the workload from what its sources hold (and shapes its
   * agent), and the warnings to print. The agent is written afresh only when the
   * workload rolls anyway (its stamp changes, or its template did).
   */
  #stamp(request: AdmissionRequest, workload: MutableWorkload, shaped: ShapedTemplate, subject: Subject): Outcome {
    const previous = templateStamp(request.oldObject);
    const own = templateStamp(workload);
    const old = previousTemplate(request);
    // Only a change of the template is the user's own rollout: any other update (a label, a scale,
    // confighash's own records) keeps the stamp, so it cannot bypass a window or an approval.
    const desired =
      previous && old && sameButStamp(shaped.kept, old)
        ? this.#keptStamp(subject, own, previous)
        : this.#desiredAnnotations(subject, own ?? previous, request.operation === 'CREATE');
    const rolling =
      desired.annotations !== undefined && desired.annotations[ANNOTATION.checksum] !== previous?.checksum;
    const warnings = [
      ...missingWarnings(subject),
      ...[desired.warning, shaped.warning, undoWarning(request, own, desired.annotations)].filter(
        (w): w is string => w !== undefined,
      ),
    ];
    const response: AdmissionResponse = {
      uid: request.uid,
      allowed: true,
      ...(warnings.length > 0 ? { warnings } : {}),
    };
    return patched(
      response,
      relocatedPatch(request, templatePatch(workload, rolling ? shaped.fresh : shaped.kept, desired.annotations)),
    );
  }

  /** This replica's controller stamping the template it read, and changing nothing else of it (see workloads/patches-in-flight.ts). */
  #isOwnPatch(request: AdmissionRequest, workload: MutableWorkload, shaped: ShapedTemplate): boolean {
    const own = templateStamp(workload)?.checksum;
    const old = previousTemplate(request);
    const target = patchTarget(request);
    if (!own || !old || !target || !this.#options.ownPatches) return false;
    return this.#options.ownPatches.isOwn(target, own) && sameButStamp(shaped.kept, old);
  }

  /** The controller's own stamp, as it wrote it; the template rolls (agent shaped afresh) if the stamp changed. */
  #stampOwn(request: AdmissionRequest, workload: MutableWorkload, shaped: ShapedTemplate): Outcome {
    const own = templateStamp(workload);
    const desired = { [ANNOTATION.checksum]: own?.checksum ?? '', [ANNOTATION.sources]: own?.sources ?? '' };
    const rolling = own?.checksum !== templateStamp(request.oldObject)?.checksum;
    return patched(
      { uid: request.uid, allowed: true },
      relocatedPatch(request, templatePatch(workload, rolling ? shaped.fresh : shaped.kept, desired)),
    );
  }

  /** The workload's sources, read live before the deadline. */
  async #read(namespace: string, sources: Subject['sources']): Promise<Subject> {
    const { reader, deadlineMs } = this.#options;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort(new DOMException(`not all read within ${deadlineMs}ms`, 'TimeoutError'));
    }, deadlineMs);
    try {
      const states = await reader.read(namespace, sources, deadline.signal);
      return { namespace, sources, stateOf: (id) => states.get(id) ?? { exists: false } };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The annotations the template should carry: its stamp (or the previous
   * version's) while that still describes the configuration in its own format,
   * so a new format or signing key changes no template; else the current stamp.
   * On an update, a stamp this replica cannot verify (a key it has not seen yet)
   * is left alone; a created workload has no rollout to spare, so it is stamped.
   */
  #desiredAnnotations(
    subject: Subject,
    existing: Stamp | undefined,
    creating: boolean,
  ): { annotations?: Record<string, string>; warning?: string } {
    const { hasher } = this.#options;
    const verdict = existing ? verify(hasher, existing, subject) : undefined;
    if (verdict?.kind === 'unverifiable' && !creating) {
      return {
        warning: `confighash: checksum annotations left as they are (${verdict.reason}); the controller will update them`,
      };
    }
    const stamp = verdict?.kind === 'current' ? existing : currentFingerprint(hasher, subject)?.stamp;
    if (!stamp) return { annotations: {} };
    return { annotations: { [ANNOTATION.checksum]: stamp.checksum ?? '', [ANNOTATION.sources]: stamp.sources } };
  }

  /** The stamp of an update that leaves the template as it was: its own if that is current (the controller's rollout), else the previous one. */
  #keptStamp(
    subject: Subject,
    own: Stamp | undefined,
    previous: Stamp,
  ): { annotations?: Record<string, string>; warning?: string } {
    const stamp = own && verify(this.#options.hasher, own, subject).kind === 'current' ? own : previous;
    return { annotations: { [ANNOTATION.checksum]: stamp.checksum ?? '', [ANNOTATION.sources]: stamp.sources } };
  }

  /** Allowed, unpatched, with a warning: the webhook never blocks a deployment. */
  #failOpen(request: AdmissionRequest, what: string, error: unknown): Outcome {
    const reason = error instanceof Error ? error.message : String(error);
    this.#options.logger.warn(
      { namespace: request.namespace, kind: request.kind.kind, name: request.name, err: reason },
      `admitted without checksum annotations: ${what}; the controller will add them`,
    );
    const warning = `confighash: ${what} (${reason}); the controller will add checksum annotations`;
    return { result: 'error', response: { uid: request.uid, allowed: true, warnings: [warning] } };
  }

  /** The workload in `request` (a view), if it is one confighash mutates. */
  #workloadToMutate(request: AdmissionRequest): MutableWorkload | undefined {
    const workload = request.object;
    if (!workload?.spec?.template) return undefined;
    if (isIgnored(workload.metadata?.annotations) || isUnstampedAndUnchanged(request)) return undefined;
    return workload as MutableWorkload;
  }

  /** The kind of the request's object, if it is a request confighash mutates. */
  #applies(request: AdmissionRequest): WorkloadKind | undefined {
    const { group, version, kind } = request.kind;
    const tracked = workloadKindOf(group, kind);
    const applies =
      tracked !== undefined &&
      version === WORKLOAD_APIS[tracked].version &&
      (request.operation === 'CREATE' || request.operation === 'UPDATE') &&
      !request.subResource;
    return applies ? tracked : undefined;
  }
}

/** The annotations refused (over their limit) or ignored (a malformed rollout policy), said at admission. */
function annotationWarnings(request: AdmissionRequest, namespace: NamespaceInScope): string[] {
  const annotations = request.object?.metadata?.annotations ?? {};
  const { refused } = boundedAnnotations(annotations);
  const { problems } = rolloutPolicy(annotations, namespace.defaults);
  return [...refused, ...problems.map((p) => `${p}: ignored, so rollouts are not held back by it`)].map(
    (w) => `confighash: ${w}`,
  );
}

function withWarnings(outcome: Outcome, warnings: readonly string[]): Outcome {
  if (warnings.length === 0) return outcome;
  return {
    ...outcome,
    response: { ...outcome.response, warnings: [...(outcome.response.warnings ?? []), ...warnings] },
  };
}

/** Not read, not stamped: every source would be a read, and the stamp could outgrow the annotation limit. */
function tooMany(allowed: AdmissionResponse, count: number): Outcome {
  return { result: 'skipped', response: { ...allowed, warnings: [`confighash: ${tooManySourcesMessage(count)}`] } };
}

/** The answer: `response`, with `patch` if there is anything to patch. */
function patched(response: AdmissionResponse, patch: readonly object[] | undefined): Outcome {
  if (!patch || patch.length === 0) return { result: 'unchanged', response };
  const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
  return { result: 'patched', response: { ...response, patchType: 'JSONPatch', patch: encoded } };
}

/** Warnings listed one by one; beyond, they are counted (the API server keeps only a few KiB of them). */
const MAX_WARNINGS = 5;

/** A warning per required source that does not exist (optional ones may be absent by design). */
function missingWarnings({ namespace, sources, stateOf }: Subject): string[] {
  const missing = sources.filter((s) => !s.optional && !stateOf(s.id).exists);
  const warnings = missing
    .slice(0, MAX_WARNINGS)
    .map((s) =>
      isValidObjectName(s.name)
        ? `confighash: ${s.id} does not exist in namespace ${namespace}; the workload rolls once when it appears`
        : `confighash: ${s.id} is not a valid name for a ConfigMap or Secret; it is recorded as missing and never read`,
    );
  if (missing.length > MAX_WARNINGS)
    warnings.push(
      `confighash: ${missing.length - MAX_WARNINGS} more required sources do not exist in namespace ${namespace}`,
    );
  return warnings;
}

/**
 * An update that brings back the stamp of an earlier revision (`kubectl rollout
 * undo` copies a ReplicaSet's template, stamp included) rolls back the pods, not
 * the configuration: confighash stamps the configuration as it is now, so
 * without this warning kubectl would say "rolled back" and nothing would change.
 */
function undoWarning(
  request: AdmissionRequest,
  existing: Stamp | undefined,
  desired: Record<string, string> | undefined,
): string | undefined {
  const previous = templateStamp(request.oldObject);
  if (request.operation !== 'UPDATE' || !existing || !previous || !desired) return undefined;
  if (existing.checksum === previous.checksum || existing.checksum === desired[ANNOTATION.checksum]) return undefined;
  const kind = request.kind.kind.toLowerCase();
  return `confighash: this template carries the configuration stamp of an earlier revision (kubectl rollout undo?): a rollback does not bring back configuration, and the template is stamped with the ConfigMaps and Secrets as they are now. To run an earlier configuration, restore the ConfigMap or Secret; \`confighash history ${kind}/${request.name ?? ''}\` shows what each revision ran`;
}

/** Whether the template to admit is the previous one but for the stamp: then the update is no rollout of the user's. */
function sameButStamp(a: PodTemplate, b: PodTemplate): boolean {
  const unstamped = (t: PodTemplate): PodTemplate => ({
    ...t,
    metadata: {
      ...t.metadata,
      annotations: Object.fromEntries(
        Object.entries(t.metadata?.annotations ?? {}).filter(
          ([key]) => key !== ANNOTATION.checksum && key !== ANNOTATION.sources,
        ),
      ),
    },
  });
  return isDeepStrictEqual(unstamped(a), unstamped(b));
}

/** What an UPDATE changes: the workload at its old resourceVersion. */
function patchTarget(request: AdmissionRequest): AdmittedTarget | undefined {
  const { resourceVersion, generation } = request.oldObject?.metadata ?? {};
  if (request.operation !== 'UPDATE' || !resourceVersion) return undefined;
  return {
    kind: request.kind.kind,
    namespace: request.namespace ?? '',
    name: request.name ?? '',
    resourceVersion,
    generation,
  };
}

function previousTemplate(request: AdmissionRequest): PodTemplate | undefined {
  return request.oldObject?.spec?.template ?? undefined;
}

/** The checksum annotations a workload's template carries, if it carries them. */
function templateStamp(workload: WorkloadObject | null | undefined): Stamp | undefined {
  const annotations = workload?.spec?.template?.metadata?.annotations;
  const checksum = annotations?.[ANNOTATION.checksum];
  return checksum === undefined ? undefined : { checksum, sources: annotations?.[ANNOTATION.sources] ?? '' };
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
