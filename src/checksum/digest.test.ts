import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  combinedChecksum,
  encode,
  MAX_SOURCES_SUMMARY_LENGTH,
  MISSING,
  parseFormat,
  parseSourcesSummary,
  type SourceObject,
  type SourceState,
  type StampFormat,
  sourcesSummary,
} from './digest.ts';
import { keyId } from './keyring.ts';
import { hasherWith } from '../../test/support/hasher.ts';
import type { ConsumedSource, KeySelection, SourceId } from './consumed-source.ts';

const KEY = Buffer.alloc(32, 7);
const KEY_ID = keyId(KEY);
const V1: StampFormat = { version: 'v1' };
const V2: StampFormat = { version: 'v2', keyId: KEY_ID };

const hasher = hasherWith(KEY);

function source(id: SourceId, keys: KeySelection = { all: true }): ConsumedSource {
  const [kind, name] = id.split('/') as ['configmap' | 'secret', string];
  return { id, kind, name, keys, sites: [], optional: false };
}

function only(...names: string[]): KeySelection {
  return { all: false, keys: new Set(names) };
}

function digestOf(
  src: ConsumedSource,
  object: SourceObject | undefined,
  h = hasher,
  [format, namespace]: [StampFormat, string] = [V2, 'app'],
): string {
  const state: SourceState = object ? { exists: true, keys: h.keyDigests(src.kind, object) } : { exists: false };
  return h.sourceDigest(format, namespace, src, state)?.digest ?? 'no key';
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

const app = source('configmap/app');

describe('source digests', () => {
  it('keep their v1 values: stamps of the first release are verified with them, and roll nothing', () => {
    assert.equal(
      digestOf(app, { data: { a: '1', b: 'two' }, binaryData: { c: b64('bin') } }, hasher, [V1, 'app']),
      'f6b4a0abd27796ccdbef9fb6ad1b3458847d867b8ecb873e42d344e27125b2da',
    );
    assert.equal(
      digestOf(source('secret/db', only('password')), { data: { password: b64('hunter2'), other: 'eA==' } }, hasher, [
        V1,
        'app',
      ]),
      '51848a86b642489c5c20089b6700a1cf0b8154b1d9a2999e5abe34778365b1c1',
    );
  });

  it('keep their v2 values: a change of encoding would roll every workload once', () => {
    assert.equal(
      digestOf(app, { data: { a: '1', b: 'two' }, binaryData: { c: b64('bin') } }),
      'b579714c04a71005c06643dc51db8b417841058fffb02c2ae6b0d004418d03c0',
    );
    assert.equal(
      digestOf(source('secret/db', only('password')), { data: { password: b64('hunter2'), other: 'eA==' } }),
      '1d58bbc44ee72b72c9e5734cd70461de3f452a7d2f15d326d9fd592fa70b0255',
    );
  });

  it('is a 64-hex SHA-256 for ConfigMaps, and `missing` for absent objects', () => {
    assert.match(digestOf(app, { data: { a: '1' } }), /^[0-9a-f]{64}$/);
    assert.equal(digestOf(app, undefined), MISSING);
  });

  it('does not depend on key order', () => {
    assert.equal(digestOf(app, { data: { a: '1', b: '2' } }), digestOf(app, { data: { b: '2', a: '1' } }));
  });

  it('changes with any consumed value or key name', () => {
    const base = digestOf(app, { data: { a: '1', b: '2' } });
    assert.notEqual(digestOf(app, { data: { a: '1', b: '3' } }), base);
    assert.notEqual(digestOf(app, { data: { a: '1', c: '2' } }), base);
    assert.notEqual(digestOf(app, { data: { a: '1' } }), base);
  });

  it('covers only consumed keys', () => {
    const partial = source('configmap/app', only('a'));
    assert.equal(
      digestOf(partial, { data: { a: '1', b: '2' } }),
      digestOf(partial, { data: { a: '1', b: 'changed' } }),
    );
    assert.notEqual(digestOf(partial, { data: { a: '1' } }), digestOf(partial, { data: { a: '2' } }));
  });

  it('tells an absent consumed key from an empty value', () => {
    const partial = source('configmap/app', only('a'));
    assert.notEqual(digestOf(partial, { data: {} }), digestOf(partial, { data: { a: '' } }));
  });

  it('covers binaryData, and equal bytes digest alike in data or binaryData', () => {
    const withBinary = digestOf(app, { data: { a: '1' }, binaryData: { bin: b64('\u0000\u0001') } });
    assert.notEqual(withBinary, digestOf(app, { data: { a: '1' }, binaryData: { bin: b64('\u0000\u0002') } }));
    assert.equal(digestOf(app, { data: { k: 'text' } }), digestOf(app, { binaryData: { k: b64('text') } }));
  });

  it('is unambiguous where concatenation would not be', () => {
    // Without length prefixes, these would hash the same bytes.
    assert.notEqual(digestOf(app, { data: { ab: 'c' } }), digestOf(app, { data: { a: 'bc' } }));
    assert.notEqual(digestOf(app, { data: { a: 'b', c: 'd' } }), digestOf(app, { data: { a: 'bcd' } }));
    assert.notDeepEqual(encode(['ab', 'c']), encode(['a', 'bc']));
  });

  it('differs between sources of different names or kinds with the same data', () => {
    const data = { data: { a: b64('1') } };
    assert.notEqual(digestOf(source('secret/x'), data), digestOf(source('secret/y'), data));
    assert.notEqual(digestOf(source('configmap/x'), { data: { a: '1' } }), digestOf(source('secret/x'), data));
  });

  it('decodes Secret data from base64, so equal Secrets digest alike', () => {
    const db = source('secret/db');
    assert.equal(digestOf(db, { data: { pin: b64('1234') } }), digestOf(db, { data: { pin: 'MTIzNA==' } }));
    assert.notEqual(digestOf(db, { data: { pin: b64('1234') } }), digestOf(db, { data: { pin: b64('1235') } }));
  });
});

describe('Secret digests', () => {
  const db = source('secret/db', only('pin'));
  const pin = { data: { pin: b64('1234') } };

  it('cannot be reproduced without the installation key', () => {
    const other = hasherWith(randomBytes(32));
    assert.notEqual(digestOf(db, pin, other), digestOf(db, pin));
  });

  it("differ between namespaces: a Secret of one tenant is no oracle for another tenant's (v2)", () => {
    assert.notEqual(digestOf(db, pin, hasher, [V2, 'tenant-a']), digestOf(db, pin, hasher, [V2, 'tenant-b']));
    assert.notEqual(
      digestOf(app, { data: { a: '1' } }, hasher, [V2, 'tenant-a']),
      digestOf(app, { data: { a: '1' } }, hasher, [V2, 'tenant-b']),
    );
    // v1, kept only to verify old stamps, had this flaw: nothing new is written in it.
    assert.equal(digestOf(db, pin, hasher, [V1, 'tenant-a']), digestOf(db, pin, hasher, [V1, 'tenant-b']));
  });

  it('are signed with the key their format names, and cannot be computed once that key is gone', () => {
    const next = randomBytes(32);
    const rotated = hasherWith(KEY, next);
    assert.deepEqual(rotated.currentFormat(), { version: 'v2', keyId: keyId(next) });
    assert.equal(
      digestOf(db, pin, rotated, [V2, 'app']),
      digestOf(db, pin, hasher, [V2, 'app']),
      'the old key still verifies its stamps',
    );
    assert.notEqual(
      digestOf(db, pin, rotated, [rotated.currentFormat(), 'app']),
      digestOf(db, pin, hasher, [V2, 'app']),
    );
    assert.equal(digestOf(db, pin, hasher, [{ version: 'v2', keyId: 'deadbeef' }, 'app']), 'no key');
    // ConfigMaps need no key: any format's digest can be computed.
    assert.match(
      digestOf(app, { data: { a: '1' } }, hasher, [{ version: 'v2', keyId: 'deadbeef' }, 'app']),
      /^[0-9a-f]{64}$/,
    );
  });

  it('are not a plain hash of the value or of any key=value form of it', () => {
    const digest = digestOf(db, pin);
    const candidates = ['1234', 'pin=1234', 'pin:1234', 'pin1234', b64('1234')];
    for (const candidate of candidates) {
      assert.notEqual(digest, createHash('sha256').update(candidate).digest('hex'));
      assert.notEqual(
        digest,
        createHash('sha256')
          .update(encode(['pin', candidate]))
          .digest('hex'),
      );
    }
  });

  it('a four-digit PIN cannot be found by hashing all 10,000 candidates without the key', () => {
    const short = sourcesSummary([{ id: 'secret/db', digest: digestOf(db, pin) }]).split('=')[1];
    const unkeyed = new Set<string>();
    for (let n = 0; n < 10_000; n++) {
      const value = String(n).padStart(4, '0');
      const fields = [
        'source',
        'secret/db',
        'pin',
        'present',
        createHash('sha256')
          .update(encode(['value', value]))
          .digest(),
      ];
      unkeyed.add(createHash('sha256').update(encode(fields)).digest('hex').slice(0, 12));
      unkeyed.add(createHmac('sha256', Buffer.alloc(0)).update(encode(fields)).digest('hex').slice(0, 12));
    }
    assert.equal(unkeyed.has(short ?? ''), false);
  });

  it('refuses a short key', () => {
    assert.throws(() => hasherWith(Buffer.alloc(16)), /at least 32 bytes/);
  });
});

describe('combined checksum and sources summary', () => {
  const digests = [
    { id: 'secret/db' as const, digest: 'ab'.repeat(32) },
    { id: 'configmap/app' as const, digest: 'cd'.repeat(32) },
    { id: 'configmap/flags' as const, digest: MISSING },
  ];

  it('is versioned, names its key, and is independent of order', () => {
    const checksum = combinedChecksum(V2, digests);
    assert.match(checksum ?? '', new RegExp(`^v2:${KEY_ID}:[0-9a-f]{64}$`));
    assert.equal(combinedChecksum(V2, [...digests].reverse()), checksum);
    assert.deepEqual(parseFormat(checksum), V2);
    assert.match(combinedChecksum(V1, digests) ?? '', /^v1:[0-9a-f]{64}$/);
    assert.deepEqual(parseFormat(combinedChecksum(V1, digests)), V1);
    assert.equal(parseFormat('v3:abc'), undefined);
  });

  it('changes when any digest changes, and is absent without sources', () => {
    const changed = digests.map((d) => (d.id === 'configmap/flags' ? { ...d, digest: 'ef'.repeat(32) } : d));
    assert.notEqual(combinedChecksum(V2, changed), combinedChecksum(V2, digests));
    assert.equal(combinedChecksum(V2, []), undefined);
  });

  it('summarises each source with 12 hex characters, sorted, and round-trips', () => {
    const summary = sourcesSummary(digests);
    assert.equal(summary, 'configmap/app=cdcdcdcdcdcd,configmap/flags=missing,secret/db=abababababab');
    assert.deepEqual(
      [...parseSourcesSummary(summary)],
      [
        ['configmap/app', 'cdcdcdcdcdcd'],
        ['configmap/flags', 'missing'],
        ['secret/db', 'abababababab'],
      ],
    );
  });

  it('keeps the summary within its bound, counting what it leaves out; the checksum still covers every source', () => {
    const many = Array.from({ length: 256 }, (_, i) => ({
      id: `configmap/${'n'.repeat(200)}-${i}` as const,
      digest: 'ab'.repeat(32),
    }));
    const summary = sourcesSummary(many, MAX_SOURCES_SUMMARY_LENGTH);
    assert.ok(summary.length <= MAX_SOURCES_SUMMARY_LENGTH, `${summary.length} characters`);
    const listed = parseSourcesSummary(summary).size;
    assert.ok(listed > 10);
    assert.match(summary, new RegExp(`,\\+${256 - listed} more$`));
    const changed = many.map((d, i) => (i === 255 ? { ...d, digest: 'cd'.repeat(32) } : d));
    assert.equal(sourcesSummary(changed, MAX_SOURCES_SUMMARY_LENGTH), summary, 'the change is beyond the summary');
    assert.notEqual(combinedChecksum(V2, changed), combinedChecksum(V2, many));
    assert.equal(
      sourcesSummary(digests, MAX_SOURCES_SUMMARY_LENGTH),
      sourcesSummary(digests),
      'short summaries are whole',
    );
  });
});
