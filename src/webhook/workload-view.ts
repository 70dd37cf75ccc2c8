// The webhook works on one shape: a workload whose pod template is at
// spec.template, with the annotations that decide its tracking
// (checksum/workload-kinds.ts). A CronJob's template (spec.jobTemplate.spec.template)
// is shown to it there, and the patch made of that view is moved back.
import {
  podTemplateOf,
  templatePath,
  trackingAnnotations,
  type WorkloadKind,
  workloadKindOf,
} from '../checksum/index.ts';
import type { Operation } from './patch.ts';
import type { AdmissionRequest, PodTemplate, WorkloadObject } from './review.ts';

/** The request with its objects as views, for `kind` (a kind confighash tracks). */
export function requestView(
  kind: WorkloadKind,
  request: AdmissionRequest,
  reloaderAnnotations: boolean,
): AdmissionRequest {
  const { object, oldObject, ...rest } = request;
  const view = (o: WorkloadObject): WorkloadObject => workloadView(kind, o, reloaderAnnotations);
  return { ...rest, ...(object ? { object: view(object) } : {}), ...(oldObject ? { oldObject: view(oldObject) } : {}) };
}

/** The object as a workload with its template at spec.template, and the annotations that decide its tracking. */
function workloadView(kind: WorkloadKind, object: WorkloadObject, reloaderAnnotations: boolean): WorkloadObject {
  const annotations = object.metadata?.annotations;
  const template = podTemplateOf(kind, object) as PodTemplate | undefined;
  const tracking = trackingAnnotations(
    kind,
    annotations ?? {},
    reloaderAnnotations,
    template?.metadata?.annotations ?? {},
  );
  const metadata = {
    ...object.metadata,
    // An object without annotations keeps none, unless its template's Reloader annotations are read.
    ...(annotations || Object.keys(tracking).length > 0 ? { annotations: { ...tracking } } : {}),
  };
  if (kind !== 'CronJob') return { ...object, metadata };
  return { metadata, spec: template ? { template } : {} };
}

/** The view's patch, for the request's object itself: `/spec/template/…` becomes its kind's own path. */
export function relocatedPatch(request: AdmissionRequest, operations: Operation[]): Operation[] {
  const kind = workloadKindOf(request.kind.group, request.kind.kind);
  if (kind !== 'CronJob') return operations;
  const to = `/${templatePath(kind).join('/')}`;
  return operations.map((operation) => ({ ...operation, path: operation.path.replace(/^\/spec\/template/, to) }));
}
