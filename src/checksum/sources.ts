// Which ConfigMaps and Secrets a pod template consumes, and which of their keys:
// the "sources" of SPEC.md, read from the pod spec plus the include/exclude
// annotations. Pure: plain objects in, plain objects out.
import { reloaderSources } from './reloader.ts';
import { ANNOTATION } from './annotations.ts';
import type { ConsumedSource, KeySelection, ReferenceSite, SourceId, SourceKind } from './consumed-source.ts';

/** The parts of a pod spec that reference configuration (a structural subset of core/v1). */
export interface PodSpecLike {
  containers?: readonly ContainerLike[] | null;
  initContainers?: readonly ContainerLike[] | null;
  volumes?: readonly VolumeLike[] | null;
}

interface ContainerLike {
  name?: string;
  volumeMounts?: readonly { name?: string; mountPath?: string; subPath?: string; subPathExpr?: string }[] | null;
  env?:
    | readonly {
        valueFrom?: { configMapKeyRef?: KeyRef | null; secretKeyRef?: KeyRef | null } | null;
      }[]
    | null;
  envFrom?: readonly { configMapRef?: NameRef | null; secretRef?: NameRef | null }[] | null;
}

interface VolumeLike {
  name?: string;
  configMap?: ItemsRef | null;
  secret?: (Omit<ItemsRef, 'name'> & { secretName?: string }) | null;
  projected?: { sources?: readonly { configMap?: ItemsRef | null; secret?: ItemsRef | null }[] | null } | null;
}

interface NameRef {
  name?: string;
  optional?: boolean | null;
}
interface KeyRef extends NameRef {
  key?: string;
}
interface ItemsRef extends NameRef {
  items?: readonly { key?: string }[] | null;
}

/**
 * A workload consuming more sources than this is not tracked: neither stamped
 * nor rolled. Every source is a read at admission and a line of the stamp, so
 * without a bound one workload (an `include` of 10,000 names) could make the
 * webhook miss its deadline and the stamp outgrow the API server's annotation
 * limit. Real pod specs consume a handful.
 */
export const MAX_SOURCES_PER_WORKLOAD = 256;

/** What the webhook, the controller and `status` say of a workload over the bound. */
export function tooManySourcesMessage(count: number): string {
  return `it consumes ${count} ConfigMaps and Secrets, more than the ${MAX_SOURCES_PER_WORKLOAD} confighash tracks per workload: it is not stamped or rolled (split its configuration, or set confighash.dev/ignore: "true")`;
}

const ALL_KEYS: KeySelection = { all: true };
const KIND_ALIASES = new Map<string, SourceKind>([
  ['configmap', 'configmap'],
  ['cm', 'configmap'],
  ['secret', 'secret'],
]);

/**
 * The sources a pod template consumes, sorted by id. `annotations` are the
 * workload's own (`confighash.dev/include` adds every key of the named sources,
 * `confighash.dev/exclude` removes sources). What `reloadedVolumes` consume is
 * left out: it is reloaded in place (see reload.ts), and only the rest rolls.
 */
export function consumedSources(
  spec: PodSpecLike,
  annotations: Readonly<Record<string, string>> = {},
  reloadedVolumes: ReadonlySet<string> = new Set(),
): ConsumedSource[] {
  const found = new Collector();
  collectContainers(found, spec.initContainers ?? [], 'initContainers');
  collectContainers(found, spec.containers ?? [], 'containers');
  collectVolumes(
    found,
    (spec.volumes ?? []).filter((v) => !reloadedVolumes.has(v.name ?? '')),
  );
  for (const id of parseSourceList(annotations[ANNOTATION.include])) {
    found.add({ id, keys: ALL_KEYS, site: `annotation ${ANNOTATION.include}`, optional: true });
  }
  const excluded = new Set(parseSourceList(annotations[ANNOTATION.exclude]));
  return [
    ...reloaderSources(
      found.sources().filter((source) => !excluded.has(source.id)),
      annotations,
    ),
  ];
}

/** What the volumes named `volumes` consume: the sources reloaded in place, when a workload has the reload strategy. */
export function volumeSources(spec: PodSpecLike, volumes: ReadonlySet<string>): ConsumedSource[] {
  const found = new Collector();
  collectVolumes(
    found,
    (spec.volumes ?? []).filter((v) => volumes.has(v.name ?? '')),
  );
  return found.sources();
}

/**
 * Parses `configmap/a, secret/b` (as in the include/exclude annotations).
 * Entries that are not `configmap/NAME` or `secret/NAME` are ignored; kinds are
 * case-insensitive, and `cm/` is accepted for ConfigMaps.
 */
export function parseSourceList(value: string | undefined): SourceId[] {
  if (value === undefined) return [];
  const ids: SourceId[] = [];
  for (const entry of value.split(',')) {
    const match = /^\s*([A-Za-z]+)\/([a-z0-9][a-z0-9.-]*)\s*$/.exec(entry);
    const kind = KIND_ALIASES.get(match?.[1]?.toLowerCase() ?? '');
    if (kind && match?.[2]) ids.push(sourceId(kind, match[2]));
  }
  return ids;
}

export function sourceId(kind: SourceKind, name: string): SourceId {
  return `${kind}/${name}`;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * Whether `name` can name a ConfigMap or Secret (a DNS subdomain, as the API
 * server requires). Pod specs may reference names no object can have (`.`,
 * `..`, `A`): such a source is recorded as missing and never requested, since
 * `secret/.` in a request path is normalised into a list of every Secret.
 */
export function isValidObjectName(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

interface Reference {
  id: SourceId;
  keys: KeySelection;
  site: ReferenceSite;
  optional: boolean;
}

function collectContainers(found: Collector, containers: readonly ContainerLike[], field: string): void {
  for (const container of containers) found.addAll(containerReferences(container, `${field}[${container.name ?? ''}]`));
}

function containerReferences(container: ContainerLike, at: string): Reference[] {
  const env = (container.env ?? []).flatMap(({ valueFrom }) => [
    ...keyRef('configmap', valueFrom?.configMapKeyRef, `${at}.env`),
    ...keyRef('secret', valueFrom?.secretKeyRef, `${at}.env`),
  ]);
  const envFrom = (container.envFrom ?? []).flatMap(({ configMapRef, secretRef }) => [
    ...reference('configmap', configMapRef, ALL_KEYS, `${at}.envFrom`),
    ...reference('secret', secretRef, ALL_KEYS, `${at}.envFrom`),
  ]);
  return [...env, ...envFrom];
}

function collectVolumes(found: Collector, volumes: readonly VolumeLike[]): void {
  for (const volume of volumes) {
    const at = `volumes[${volume.name ?? ''}]`;
    found.addAll(itemsRef('configmap', volume.configMap, at));
    found.addAll(itemsRef('secret', volume.secret && secretVolumeRef(volume.secret), at));
    for (const projection of volume.projected?.sources ?? []) {
      found.addAll(itemsRef('configmap', projection.configMap, `${at}.projected`));
      found.addAll(itemsRef('secret', projection.secret, `${at}.projected`));
    }
  }
}

/** A reference to `ref.name`, or none when the name is absent or empty. */
function reference(
  kind: SourceKind,
  ref: NameRef | null | undefined,
  selection: KeySelection,
  site: ReferenceSite,
): Reference[] {
  return ref?.name ? [{ id: sourceId(kind, ref.name), keys: selection, site, optional: ref.optional === true }] : [];
}

function keyRef(kind: SourceKind, ref: KeyRef | null | undefined, site: ReferenceSite): Reference[] {
  return ref?.key === undefined ? [] : reference(kind, ref, keys([ref.key]), site);
}

function itemsRef(kind: SourceKind, ref: ItemsRef | null | undefined, site: ReferenceSite): Reference[] {
  return ref ? reference(kind, ref, itemKeys(ref), site) : [];
}

/** A secret volume names its Secret `secretName`; the other references say `name`. */
function secretVolumeRef({ secretName, ...rest }: NonNullable<VolumeLike['secret']>): ItemsRef {
  return secretName === undefined ? rest : { ...rest, name: secretName };
}

/** A volume with `items` mounts only those keys; without, every key. */
function itemKeys(ref: { items?: readonly { key?: string }[] | null }): KeySelection {
  if (!ref.items || ref.items.length === 0) return ALL_KEYS;
  return keys(ref.items.flatMap((item) => (item.key === undefined ? [] : [item.key])));
}

function keys(names: readonly string[]): KeySelection {
  return { all: false, keys: new Set(names) };
}

/** Merges references to one source: the union of keys, where "every key" wins. */
class Collector {
  readonly #byId = new Map<SourceId, { keys: KeySelection; sites: Set<ReferenceSite>; optional: boolean }>();

  addAll(references: readonly Reference[]): void {
    for (const reference of references) this.add(reference);
  }

  /** Merges: the union of keys; optional only if every reference is. */
  add({ id, keys: selection, site, optional }: Reference): void {
    const existing = this.#byId.get(id);
    if (!existing) {
      this.#byId.set(id, { keys: selection, sites: new Set([site]), optional });
      return;
    }
    existing.sites.add(site);
    existing.keys = union(existing.keys, selection);
    existing.optional &&= optional;
  }

  sources(): ConsumedSource[] {
    return [...this.#byId.entries()]
      .sort(([a], [b]) => compareStrings(a, b))
      .map(([id, { keys: selection, sites, optional }]) => {
        const slash = id.indexOf('/');
        return {
          id,
          kind: id.slice(0, slash) as SourceKind,
          name: id.slice(slash + 1),
          keys: selection,
          sites: [...sites],
          optional,
        };
      });
  }
}

function union(a: KeySelection, b: KeySelection): KeySelection {
  if (a.all || b.all) return ALL_KEYS;
  return keys([...a.keys, ...b.keys]);
}

/** Code-unit order, independent of locale: the order every digest relies on. */
export function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
