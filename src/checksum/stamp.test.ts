import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hasherWith } from '../../test/support/hasher.ts';
import type { SourceObject, SourceState } from './digest.ts';
import { consumedSources } from './sources.ts';
import {
  currentFingerprint,
  disappearedRequired,
  fingerprint,
  formatBaseline,
  parseBaseline,
  type Subject,
  verify,
} from './stamp.ts';

const valueKey = Buffer.alloc(32, 3);
const hasher = hasherWith(valueKey);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function subject(objects: Record<string, SourceObject | undefined>, spec: object = defaultSpec): Subject {
  const sources = consumedSources(spec);
  return {
    namespace: 'app',
    sources,
    stateOf: (id): SourceState => {
      const object = objects[id];
      const kind = id.startsWith('secret/') ? 'secret' : 'configmap';
      return object ? { exists: true, keys: hasher.keyDigests(kind, object) } : { exists: false };
    },
  };
}

const defaultSpec = {
  containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }, { secretRef: { name: 'db' } }] }],
};
const before = { 'configmap/app': { data: { LEVEL: 'info' } }, 'secret/db': { data: { pin: b64('1234') } } };
const after = { ...before, 'configmap/app': { data: { LEVEL: 'debug' } } };

describe('stamps', () => {
  it('are written in v2 and verified as current until a consumed value changes', () => {
    const stamp = currentFingerprint(hasher, subject(before))?.stamp;
    assert.ok(stamp);
    assert.match(stamp.checksum ?? '', /^v2:[0-9a-f]{8}:[0-9a-f]{64}$/);
    assert.deepEqual(verify(hasher, stamp, subject(before)), { kind: 'current' });
    assert.deepEqual(verify(hasher, stamp, subject(after)), { kind: 'changed', changed: ['configmap/app'] });
  });

  it('of the first release (v1) stay current after the upgrade, and name what changed in their own format', () => {
    const v1 = fingerprint(hasher, { version: 'v1' }, subject(before))?.stamp;
    assert.ok(v1);
    assert.match(v1.checksum ?? '', /^v1:/);
    assert.deepEqual(verify(hasher, v1, subject(before)), { kind: 'current' });
    assert.deepEqual(verify(hasher, v1, subject(after)), { kind: 'changed', changed: ['configmap/app'] });
    // A baseline of the first release: the v1 sources summary alone.
    assert.deepEqual(verify(hasher, { sources: v1.sources }, subject(before)), { kind: 'current' });
  });

  it('signed with an old key stay current after a rotation, and new stamps use the new key', () => {
    const old = currentFingerprint(hasher, subject(before))?.stamp;
    assert.ok(old);
    const rotated = hasherWith(valueKey, randomBytes(32));
    assert.deepEqual(verify(rotated, old, subject(before)), { kind: 'current' });
    const fresh = currentFingerprint(rotated, subject(before))?.stamp;
    assert.notEqual(fresh?.checksum?.split(':')[1], old.checksum?.split(':')[1]);
  });

  it('signed with a key the installation no longer has cannot be verified (and are not taken as changed)', () => {
    const foreign = currentFingerprint(hasherWith(randomBytes(32)), subject(before))?.stamp;
    assert.ok(foreign);
    assert.equal(verify(hasher, foreign, subject(before)).kind, 'unverifiable');
    assert.equal(verify(hasher, { checksum: 'v9:zz', sources: '' }, subject(before)).kind, 'unverifiable');
  });

  it("round-trip through the baseline annotation, and read the first release's baseline", () => {
    const stamp = currentFingerprint(hasher, subject(before))?.stamp;
    assert.ok(stamp);
    assert.deepEqual(parseBaseline(formatBaseline(stamp)), stamp);
    assert.deepEqual(parseBaseline('configmap/app=0123456789ab'), { sources: 'configmap/app=0123456789ab' });
    assert.equal(parseBaseline(undefined), undefined);
  });
});

describe('disappearedRequired', () => {
  const spec = {
    containers: [
      {
        name: 'app',
        envFrom: [{ configMapRef: { name: 'app' } }, { configMapRef: { name: 'extra', optional: true } }],
      },
    ],
  };
  const present = { 'configmap/app': { data: { a: '1' } }, 'configmap/extra': { data: { b: '1' } } };

  it('names a required source that existed and is gone, not an optional one, nor one that never existed', () => {
    const stamped = currentFingerprint(hasher, subject(present, spec));
    const gone = currentFingerprint(hasher, subject({}, spec));
    assert.ok(stamped);
    assert.ok(gone);
    assert.deepEqual(disappearedRequired(stamped.stamp, gone, consumedSources(spec)), ['configmap/app']);
    const neverThere = currentFingerprint(hasher, subject({}, spec));
    assert.ok(neverThere);
    assert.deepEqual(disappearedRequired(neverThere.stamp, gone, consumedSources(spec)), []);
  });
});
