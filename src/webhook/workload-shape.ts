// What confighash reads of a workload in an AdmissionReview, checked before it is
// read: the annotations and the pod spec fields that reference configuration.
// The API server validates workloads before it calls a webhook, so an object of
// another shape comes from some other caller; it is answered 400 naming the
// field that is wrong, rather than failing inside with a JavaScript error.

import type { WorkloadKind } from '../checksum/index.ts';

type Shape = 'string' | 'boolean' | 'stringMap' | { object: Readonly<Record<string, Shape>> } | { array: Shape };

const object = (fields: Record<string, Shape>): Shape => ({ object: fields });
const array = (items: Shape): Shape => ({ array: items });

const KEY_REF = object({ name: 'string', key: 'string', optional: 'boolean' });
const NAME_REF = object({ name: 'string', optional: 'boolean' });
const ITEMS = array(object({ key: 'string' }));
const ITEMS_REF = object({ name: 'string', optional: 'boolean', items: ITEMS });
const CONTAINER = object({
  name: 'string',
  env: array(object({ valueFrom: object({ configMapKeyRef: KEY_REF, secretKeyRef: KEY_REF }) })),
  envFrom: array(object({ configMapRef: NAME_REF, secretRef: NAME_REF })),
});
const VOLUME = object({
  name: 'string',
  configMap: ITEMS_REF,
  secret: object({ secretName: 'string', optional: 'boolean', items: ITEMS }),
  projected: object({ sources: array(object({ configMap: ITEMS_REF, secret: ITEMS_REF })) }),
});
const TEMPLATE = object({
  metadata: object({ annotations: 'stringMap' }),
  spec: object({ containers: array(CONTAINER), initContainers: array(CONTAINER), volumes: array(VOLUME) }),
});
const METADATA = object({ name: 'string', annotations: 'stringMap' });
const WORKLOAD = object({ metadata: METADATA, spec: object({ template: TEMPLATE }) });
const CRONJOB = object({
  metadata: METADATA,
  spec: object({ jobTemplate: object({ spec: object({ template: TEMPLATE }) }) }),
});

/** What is wrong with `value` as a workload of `kind` (`at` names it), or undefined. Absent and null fields are fine. */
export function workloadShapeProblem(value: unknown, at: string, kind: WorkloadKind): string | undefined {
  return problem(value, kind === 'CronJob' ? CRONJOB : WORKLOAD, at);
}

function problem(value: unknown, shape: Shape, at: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof shape === 'string') return scalarProblem(value, shape, at);
  return 'array' in shape ? arrayProblem(value, shape.array, at) : objectProblem(value, shape.object, at);
}

function arrayProblem(value: unknown, items: Shape, at: string): string | undefined {
  if (!Array.isArray(value)) return `${at} must be an array, got ${kindOf(value)}`;
  for (const [i, item] of value.entries()) {
    const found = item === null ? `${at}[${i}] must be an object, got null` : problem(item, items, `${at}[${i}]`);
    if (found) return found;
  }
  return undefined;
}

function objectProblem(value: unknown, fields: Readonly<Record<string, Shape>>, at: string): string | undefined {
  if (!isRecord(value)) return `${at} must be an object, got ${kindOf(value)}`;
  for (const [field, fieldShape] of Object.entries(fields)) {
    const found = problem(value[field], fieldShape, `${at}.${field}`);
    if (found) return found;
  }
  return undefined;
}

function scalarProblem(value: unknown, shape: 'string' | 'boolean' | 'stringMap', at: string): string | undefined {
  if (shape !== 'stringMap')
    return typeof value === shape ? undefined : `${at} must be a ${shape}, got ${kindOf(value)}`;
  if (!isRecord(value)) return `${at} must be an object of strings, got ${kindOf(value)}`;
  const bad = Object.entries(value).find(([, v]) => typeof v !== 'string');
  return bad ? `${at}["${bad[0].slice(0, 80)}"] must be a string, got ${kindOf(bad[1])}` : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
