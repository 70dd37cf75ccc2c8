// AdmissionReview v1: parsing and validating what the apiserver sends, and the
// response shapes. Anything that is not a well-formed review is a BadReviewError,
// which the server answers with HTTP 400 and a clear message: an envelope that is
// not a review, objects nested deeper than any Kubernetes object is, or a
// workload whose fields confighash reads have the wrong types.
import { workloadKindOf } from '../checksum/index.ts';
import { workloadShapeProblem } from './workload-shape.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

/** A workload as it arrives in a review: only the fields confighash reads. */
export interface WorkloadObject {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string> | null;
  };
  spec?: { template?: PodTemplate | null } | null;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string> | null; annotations?: Record<string, string> | null } | null;
  spec?: object | null;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  dryRun?: boolean;
  object?: WorkloadObject | null;
  oldObject?: WorkloadObject | null;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  /** Base64 of the JSON patch. */
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export class BadReviewError extends Error {
  override name = 'BadReviewError';
}

/** Validates a parsed request body as an AdmissionReview v1 and returns its request. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new BadReviewError('expected a JSON object: an admission.k8s.io/v1 AdmissionReview');
  if (body['apiVersion'] !== ADMISSION_API_VERSION || body['kind'] !== 'AdmissionReview') {
    throw new BadReviewError(
      `expected apiVersion ${ADMISSION_API_VERSION} and kind AdmissionReview, got ` +
        `${describe(body['apiVersion'])} ${describe(body['kind'])}`,
    );
  }
  const request = body['request'];
  if (!isObject(request)) throw new BadReviewError('the AdmissionReview has no request');
  // Checked first: everything after it may walk the objects recursively.
  if (nestedDeeperThan(request, MAX_DEPTH))
    throw new BadReviewError(
      `the AdmissionReview's objects are nested deeper than ${MAX_DEPTH} levels; no Kubernetes object is`,
    );
  const problem = requestProblem(request);
  if (problem) throw new BadReviewError(problem);
  return request as unknown as AdmissionRequest;
}

/** What is wrong with an AdmissionReview's request, if anything. */
function requestProblem(request: Record<string, unknown>): string | undefined {
  if (typeof request['uid'] !== 'string' || request['uid'] === '') return 'the AdmissionReview request has no uid';
  if (!isGroupVersionKind(request['kind'])) return 'request.kind must be {group, version, kind}';
  if (typeof request['operation'] !== 'string') return 'request.operation must be a string';
  const object = request['object'];
  if (object !== undefined && object !== null && !isObject(object)) return 'request.object must be an object';
  // The kinds whose objects confighash reads, and so checks the shape of.
  const kind = workloadKindOf(request['kind'].group, request['kind'].kind);
  return kind
    ? (workloadShapeProblem(object, 'request.object', kind) ??
        workloadShapeProblem(request['oldObject'], 'request.oldObject', kind))
    : undefined;
}

/** Far deeper than any workload (about 25 levels, managedFields included), far shallower than the stack. */
const MAX_DEPTH = 100;

/** Whether `value` has objects or arrays nested more than `limit` deep; walks without recursion. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, depth] = next;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

export function reviewResponse(response: AdmissionResponse): AdmissionReviewResponse {
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isGroupVersionKind(value: unknown): value is GroupVersionKind {
  return (
    isObject(value) &&
    typeof value['group'] === 'string' &&
    typeof value['version'] === 'string' &&
    typeof value['kind'] === 'string'
  );
}

function describe(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value).slice(0, 80);
}
