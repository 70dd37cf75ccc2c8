// stakater Reloader's annotations, honoured with confighash's semantics
// (--reloader-annotations, on by default): a workload that carries them is
// tracked in any namespace, as Reloader watches every namespace, and what they
// say decides which of its sources count. Key scoping stays: a source the pod
// spec references through one key counts by that key, even where Reloader would
// restart on any key. docs/reloader.md maps each annotation.
import type { ConsumedSource, SourceId } from './consumed-source.ts';
import { nameEntry } from './name-pattern.ts';

export const RELOADER_ANNOTATION = {
  /** Workload: every referenced ConfigMap and Secret. */
  auto: 'reloader.stakater.com/auto',
  /** Workload: every referenced ConfigMap only. */
  configMapAuto: 'configmap.reloader.stakater.com/auto',
  /** Workload: every referenced Secret only. */
  secretAuto: 'secret.reloader.stakater.com/auto',
  /** Workload: these ConfigMaps (a comma list), referenced or not. */
  configMapReload: 'configmap.reloader.stakater.com/reload',
  /** Workload: these Secrets, referenced or not. */
  secretReload: 'secret.reloader.stakater.com/reload',
  /** Workload: the referenced sources that carry `match`. */
  search: 'reloader.stakater.com/search',
  /** Source: counts for workloads with `search`. */
  match: 'reloader.stakater.com/match',
  /** Source: never counts. */
  ignore: 'reloader.stakater.com/ignore',
  /** Workload: ConfigMaps and Secrets left out of `auto`. */
  configMapsExclude: 'configmaps.exclude.reloader.stakater.com/reload',
  secretsExclude: 'secrets.exclude.reloader.stakater.com/reload',
} as const;

/** The annotations that make a workload Reloader's (and so tracked in any namespace). */
const WORKLOAD_KEYS: readonly string[] = [
  RELOADER_ANNOTATION.auto,
  RELOADER_ANNOTATION.configMapAuto,
  RELOADER_ANNOTATION.secretAuto,
  RELOADER_ANNOTATION.configMapReload,
  RELOADER_ANNOTATION.secretReload,
  RELOADER_ANNOTATION.search,
];

/** Whether the workload asks Reloader for anything: `auto: "false"` alone does not. */
export function isReloaderWorkload(annotations: Readonly<Record<string, string>>): boolean {
  return WORKLOAD_KEYS.some((key) => {
    const value = annotations[key];
    if (value === undefined) return false;
    return key === RELOADER_ANNOTATION.configMapReload || key === RELOADER_ANNOTATION.secretReload
      ? names(value).length > 0
      : value === 'true';
  });
}

/** The workload annotations that hold names: on the workload and on its template, both lists count. */
const LIST_KEYS: readonly string[] = [
  RELOADER_ANNOTATION.configMapReload,
  RELOADER_ANNOTATION.secretReload,
  RELOADER_ANNOTATION.configMapsExclude,
  RELOADER_ANNOTATION.secretsExclude,
];

/**
 * Reloader's workload annotations as Reloader reads them: from the workload and
 * from its pod template (`spec.template.metadata.annotations`), either asking being
 * enough — a "true" on either is true, and the reload and exclude lists of both
 * count. Only those keys are taken from the template.
 */
export function withTemplateReloaderAnnotations(
  workload: Readonly<Record<string, string>>,
  template: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  const merged: Record<string, string> = { ...workload };
  for (const key of [...WORKLOAD_KEYS, RELOADER_ANNOTATION.configMapsExclude, RELOADER_ANNOTATION.secretsExclude]) {
    const fromTemplate = template[key];
    if (fromTemplate === undefined) continue;
    const own = workload[key];
    if (LIST_KEYS.includes(key)) merged[key] = own === undefined ? fromTemplate : `${own},${fromTemplate}`;
    else merged[key] = own === 'true' ? own : fromTemplate;
  }
  return merged;
}

/** The annotations without Reloader's: what a workload says when --reloader-annotations is off. */
export function withoutReloaderAnnotations(
  annotations: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  return Object.fromEntries(Object.entries(annotations).filter(([key]) => !key.includes('reloader.stakater.com/')));
}

/**
 * The sources of a Reloader workload: from those its pod spec references,
 * the ones its annotations pick, plus the ones its reload lists name (all keys
 * when the spec does not reference them). A workload with no Reloader annotation
 * keeps `referenced` as it is.
 */
export function reloaderSources(
  referenced: readonly ConsumedSource[],
  annotations: Readonly<Record<string, string>>,
): readonly ConsumedSource[] {
  if (!isReloaderWorkload(annotations)) return referenced;
  const lists = {
    configmap: entries(annotations[RELOADER_ANNOTATION.configMapReload]),
    secret: entries(annotations[RELOADER_ANNOTATION.secretReload]),
  };
  const named = new Set<SourceId>([
    ...lists.configmap.names.map((name): SourceId => `configmap/${name}`),
    ...lists.secret.names.map((name): SourceId => `secret/${name}`),
  ]);
  const matched = (source: ConsumedSource): boolean => lists[source.kind].patterns.some((p) => p(source.name));
  const excluded = new Set<SourceId>([
    ...names(annotations[RELOADER_ANNOTATION.configMapsExclude]).map((name): SourceId => `configmap/${name}`),
    ...names(annotations[RELOADER_ANNOTATION.secretsExclude]).map((name): SourceId => `secret/${name}`),
  ]);
  const auto = autoKinds(annotations);
  const search = annotations[RELOADER_ANNOTATION.search] === 'true' && auto.size === 0;
  const picked = referenced.flatMap((source): ConsumedSource[] => {
    if (named.has(source.id) || matched(source)) return [source];
    if (auto.has(source.kind) && !excluded.has(source.id)) return [source];
    return search ? [{ ...source, requiresMatch: true }] : [];
  });
  const unreferenced = [...named].filter((id) => !referenced.some((s) => s.id === id)).map((id) => namedSource(id));
  return [...picked, ...unreferenced].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The kinds `auto` covers: both, ConfigMaps only, Secrets only, or none. */
function autoKinds(annotations: Readonly<Record<string, string>>): ReadonlySet<'configmap' | 'secret'> {
  if (annotations[RELOADER_ANNOTATION.auto] === 'true') return new Set(['configmap', 'secret']);
  const kinds = new Set<'configmap' | 'secret'>();
  if (annotations[RELOADER_ANNOTATION.configMapAuto] === 'true') kinds.add('configmap');
  if (annotations[RELOADER_ANNOTATION.secretAuto] === 'true') kinds.add('secret');
  return kinds;
}

/** A source a reload list names and the pod spec does not reference: every key, and optional (pods start without it). */
function namedSource(id: SourceId): ConsumedSource {
  const slash = id.indexOf('/');
  const kind = id.slice(0, slash) as 'configmap' | 'secret';
  return {
    id,
    kind,
    name: id.slice(slash + 1),
    keys: { all: true },
    sites: [
      `annotation ${kind === 'configmap' ? RELOADER_ANNOTATION.configMapReload : RELOADER_ANNOTATION.secretReload}`,
    ],
    optional: true,
  };
}

/**
 * A reload list's names, and its patterns (which match only the sources the pod
 * spec references: what else exists is not known from the workload). Entries that
 * cannot be matched were refused with a warning (annotation-limits.ts) and are skipped.
 */
function entries(value: string | undefined): { names: string[]; patterns: ((name: string) => boolean)[] } {
  const found: { names: string[]; patterns: ((name: string) => boolean)[] } = { names: [], patterns: [] };
  for (const text of names(value)) {
    const entry = nameEntry(text);
    if ('error' in entry) continue;
    if (entry.kind === 'name') found.names.push(entry.name);
    else found.patterns.push(entry.matches);
  }
  return found;
}

/** `a, b,c` → [a, b, c]. */
function names(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}
