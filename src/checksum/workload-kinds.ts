// The kinds confighash tracks, the API each is served by, and where each keeps
// its pod template: Deployments, StatefulSets, DaemonSets and Argo Rollouts at
// spec.template, a CronJob at spec.jobTemplate.spec.template. The webhook, the controller and
// `status` read and write templates through these, so the rest of confighash
// sees one shape: a workload with a pod template.
import { boundedAnnotations } from './annotation-limits.ts';
import { RELOAD_ANNOTATION } from './reload.ts';
import { withoutReloaderAnnotations, withTemplateReloaderAnnotations } from './reloader.ts';

/** The kinds every cluster serves. */
export const BUILT_IN_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob'] as const;
export const WORKLOAD_KINDS = [...BUILT_IN_KINDS, 'Rollout'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Argo Rollouts' CustomResourceDefinition: Rollouts are watched while it is installed. */
export const ROLLOUT_CRD = 'rollouts.argoproj.io';

export const WORKLOAD_APIS: Readonly<Record<WorkloadKind, { group: string; version: string; resource: string }>> = {
  Deployment: { group: 'apps', version: 'v1', resource: 'deployments' },
  StatefulSet: { group: 'apps', version: 'v1', resource: 'statefulsets' },
  DaemonSet: { group: 'apps', version: 'v1', resource: 'daemonsets' },
  CronJob: { group: 'batch', version: 'v1', resource: 'cronjobs' },
  Rollout: { group: 'argoproj.io', version: 'v1alpha1', resource: 'rollouts' },
};

/** The kind confighash tracks that `group` and `kind` name, if it tracks one. */
export function workloadKindOf(group: string, kind: string): WorkloadKind | undefined {
  return WORKLOAD_KINDS.find((k) => k === kind && WORKLOAD_APIS[k].group === group);
}

/** Where the kind keeps its pod template: a JSON pointer's segments. */
export function templatePath(kind: WorkloadKind): readonly string[] {
  return kind === 'CronJob' ? ['spec', 'jobTemplate', 'spec', 'template'] : ['spec', 'template'];
}

/** The object's pod template (undefined when it has none, or a field on the way is not an object). */
export function podTemplateOf(kind: WorkloadKind, object: unknown): unknown {
  let value: unknown = object;
  for (const key of templatePath(kind)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value ?? undefined;
}

/** `{spec: {template}}` for most kinds, `{spec: {jobTemplate: {spec: {template}}}}` for a CronJob: a merge patch of the template. */
export function atTemplatePath(kind: WorkloadKind, template: object): object {
  return templatePath(kind).reduceRight<object>((inner, key) => ({ [key]: inner }), template);
}

/**
 * The workload annotations that decide how a kind is tracked: Reloader's only
 * with --reloader-annotations, and then from its pod template's annotations too,
 * as Reloader reads them. A CronJob's pods run to completion and start with the
 * configuration as it is: nothing is reloaded in place, so its reload annotations
 * are not read. An annotation over its limit is not read either.
 */
export function trackingAnnotations(
  kind: WorkloadKind,
  annotations: Readonly<Record<string, string>>,
  reloaderAnnotations: boolean,
  templateAnnotations: Readonly<Record<string, string>> = {},
): Readonly<Record<string, string>> {
  const { kept } = boundedAnnotations(annotations);
  const read = reloaderAnnotations
    ? withTemplateReloaderAnnotations(kept, boundedAnnotations(templateAnnotations).kept)
    : withoutReloaderAnnotations(kept);
  if (kind !== 'CronJob') return read;
  const reloadKeys: readonly string[] = Object.values(RELOAD_ANNOTATION);
  return Object.fromEntries(Object.entries(read).filter(([key]) => !reloadKeys.includes(key)));
}
