// Digests of consumed configuration. A source's digest covers only the consumed
// keys' names and values, in a length-prefixed (so unambiguous) encoding, and is
// built from per-key digests: the controller keeps those 32-byte digests instead
// of values, so its memory does not grow with Secret sizes, and the webhook,
// reading values live, computes the very same numbers. ConfigMap digests are
// SHA-256; Secret digests are HMAC-SHA256 under the installation's keys, so an
// annotation reveals nothing about a Secret, not even a four-digit PIN.
//
// Two formats. v1 (the first release) did not bind a digest to its namespace:
// identical Secrets in two namespaces had identical digests, an oracle for anyone
// who could create Secrets in one and read pod templates in the other. v2 binds
// every source digest to its namespace and names the signing key. New stamps are
// v2; a v1 stamp is still verified as v1, so upgrading rolls nothing.
import { createHash, createHmac, type KeyObject } from 'node:crypto';
import type { HmacKeyring } from './keyring.ts';
import type { ConsumedSource, SourceId, SourceKind } from './consumed-source.ts';
import { compareStrings } from './sources.ts';

/** The digest of a source that does not exist. */
export const MISSING = 'missing';

/** Hex characters of each source digest shown in the sources annotation. */
export const SHORT_DIGEST_LENGTH = 12;

/** How a stamp was computed: the formula's version, and for v2 the id of the signing key. */
export type StampFormat = { version: 'v1' } | { version: 'v2'; keyId: string };

/**
 * Key name → digest of its value (base64), for every key a source object holds.
 * Strings, not Buffers: tens of thousands of long-lived 32-byte Buffers, each its
 * own malloc, pin the native heap that page after page of list data churns
 * through; strings live in V8's compacting heap.
 */
export type KeyDigests = ReadonlyMap<string, string>;

/** What is known of one source object: its per-key digests, or that it does not exist. */
/**
 * What a source holds now: its per-key digests (none for a source that does not
 * count: --resource-label-selector does not select it, or it carries
 * reloader.stakater.com/ignore), whether it carries reloader.stakater.com/match, and
 * the resourceVersion it was read at, where known.
 */
export type SourceState =
  { exists: true; keys: KeyDigests; matched?: boolean; resourceVersion?: string } | { exists: false };

export interface SourceDigest {
  id: SourceId;
  /** Full hex digest, or `missing`. */
  digest: string;
}

const NO_KEYS: KeyDigests = new Map();

/** What an existing source holds, as it counts: Reloader's search counts a source without `match` as holding nothing. */
function heldKeys(source: ConsumedSource, state: { keys: KeyDigests; matched?: boolean }): KeyDigests {
  return source.requiresMatch === true && state.matched !== true ? NO_KEYS : state.keys;
}

/** Hashes values and sources with the algorithm and key their kind and format require. */
export class ValueHasher {
  readonly #keyring: HmacKeyring;

  constructor(keyring: HmacKeyring) {
    this.#keyring = keyring;
  }

  get keyring(): HmacKeyring {
    return this.#keyring;
  }

  /** The format new stamps are written in. */
  currentFormat(): StampFormat {
    return { version: 'v2', keyId: this.#keyring.signingId };
  }

  /** The digest of one value (SHA-256, or HMAC-SHA256 under the value key for Secrets), base64. */
  valueDigest(kind: SourceKind, value: Buffer): string {
    return this.#digest(kind === 'secret' ? this.#keyring.valueKey() : undefined, ['value', value]).toString('base64');
  }

  /** Per-key digests of an object's `data` (and, for ConfigMaps, `binaryData`). */
  keyDigests(kind: SourceKind, object: SourceObject): KeyDigests {
    const digests = new Map<string, string>();
    for (const [key, value] of Object.entries(object.data ?? {})) {
      // Secret data arrives base64-encoded; ConfigMap data is text.
      const bytes = kind === 'secret' ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8');
      digests.set(key, this.valueDigest(kind, bytes));
    }
    if (kind === 'configmap') {
      for (const [key, value] of Object.entries(object.binaryData ?? {})) {
        digests.set(key, this.valueDigest(kind, Buffer.from(value, 'base64')));
      }
    }
    return digests;
  }

  /**
   * The digest of the keys `source` consumes in `namespace`, given what the object
   * holds now, in `format`; undefined when this installation no longer has the
   * format's key.
   */
  sourceDigest(
    format: StampFormat,
    namespace: string,
    source: ConsumedSource,
    state: SourceState,
  ): SourceDigest | undefined {
    const key = source.kind === 'secret' ? this.#signingKey(format) : undefined;
    if (source.kind === 'secret' && !key) return undefined;
    if (!state.exists) return { id: source.id, digest: MISSING };
    const held = heldKeys(source, state);
    const names = source.keys.all ? [...held.keys()] : [...source.keys.keys];
    const fields: (string | Buffer)[] =
      format.version === 'v1' ? ['source', source.id] : ['source/v2', namespace, source.id];
    for (const name of names.sort(compareStrings)) {
      const digest = held.get(name);
      // A consumed key the object lacks is encoded as absent, unlike any value.
      fields.push(
        name,
        digest === undefined ? 'absent' : 'present',
        digest === undefined ? Buffer.alloc(0) : Buffer.from(digest, 'base64'),
      );
    }
    return { id: source.id, digest: this.#digest(key, fields).toString('hex') };
  }

  /** v1 stamps were signed with the value key, the only key there was. */
  #signingKey(format: StampFormat): KeyObject | undefined {
    return format.version === 'v1' ? this.#keyring.valueKey() : this.#keyring.key(format.keyId);
  }

  /** The digest of encode(fields), fed field by field: a large value is never copied. */
  #digest(key: KeyObject | undefined, fields: readonly (string | Buffer)[]): Buffer {
    const hash = key ? createHmac('sha256', key) : createHash('sha256');
    for (const field of fields) {
      const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
      hash.update(lengthPrefix(bytes.length)).update(bytes);
    }
    return hash.digest();
  }
}

/** A ConfigMap's or Secret's contents, as the API returns them. */
export interface SourceObject {
  data?: Readonly<Record<string, string>> | null;
  binaryData?: Readonly<Record<string, string>> | null;
}

/**
 * The combined checksum: the format (`v1:`, or `v2:<key id>:`) and the SHA-256 of
 * the format and the sorted (source, digest) pairs; undefined when there are no sources.
 */
export function combinedChecksum(format: StampFormat, digests: readonly SourceDigest[]): string | undefined {
  if (digests.length === 0) return undefined;
  const sorted = [...digests].sort((a, b) => compareStrings(a.id, b.id));
  const prefix = format.version === 'v1' ? ['v1'] : ['v2', format.keyId];
  const fields = [...prefix, ...sorted.flatMap((d) => [d.id, d.digest])];
  return `${prefix.join(':')}:${createHash('sha256').update(encode(fields)).digest('hex')}`;
}

/** The format of a checksum annotation, or undefined when it is not one confighash writes. */
export function parseFormat(checksum: string | undefined): StampFormat | undefined {
  if (checksum === undefined) return undefined;
  if (/^v1:[0-9a-f]{64}$/.test(checksum)) return { version: 'v1' };
  const v2 = /^v2:([0-9a-f]{8}):[0-9a-f]{64}$/.exec(checksum);
  return v2?.[1] ? { version: 'v2', keyId: v2[1] } : undefined;
}

/**
 * The longest sources annotation written in the v2 format: beyond it, entries
 * are left out and counted (`+12 more`), and only the checksum covers them, so
 * the stamp never pushes a valid object past the API server's annotation limit.
 */
export const MAX_SOURCES_SUMMARY_LENGTH = 4096;

/** The sources annotation: `id=<12 hex>|missing`, sorted by id, comma-separated, at most `maxLength` long. */
export function sourcesSummary(digests: readonly SourceDigest[], maxLength = Infinity): string {
  const entries = [...digests]
    .sort((a, b) => compareStrings(a.id, b.id))
    .map((d) => `${d.id}=${d.digest === MISSING ? MISSING : d.digest.slice(0, SHORT_DIGEST_LENGTH)}`);
  const whole = entries.join(',');
  if (whole.length <= maxLength) return whole;
  const marker = (left: number): string => `+${left} more`;
  const kept: string[] = [];
  let length = 0;
  for (const entry of entries) {
    if (length + entry.length + 1 + marker(entries.length).length > maxLength) break;
    kept.push(entry);
    length += entry.length + 1;
  }
  return [...kept, marker(entries.length - kept.length)].join(',');
}

/** Parses the sources annotation back into id → short digest (for status and events). */
export function parseSourcesSummary(value: string | undefined): Map<string, string> {
  const parsed = new Map<string, string>();
  for (const entry of (value ?? '').split(',')) {
    const eq = entry.lastIndexOf('=');
    if (eq > 0) parsed.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return parsed;
}

/** Each field as a 4-byte big-endian length and its bytes: no two field lists encode alike. */
export function encode(fields: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [];
  for (const field of fields) {
    const bytes = typeof field === 'string' ? Buffer.from(field, 'utf8') : field;
    parts.push(lengthPrefix(bytes.length), bytes);
  }
  return Buffer.concat(parts);
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(length);
  return prefix;
}
