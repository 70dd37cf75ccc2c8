import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasherWith } from '../../test/support/hasher.ts';
import type { SourceState } from './digest.ts';
import { isReloaderWorkload, withoutReloaderAnnotations } from './reloader.ts';
import { trackingAnnotations } from './workload-kinds.ts';
import { boundedAnnotations } from './annotation-limits.ts';
import { consumedSources, type PodSpecLike } from './sources.ts';

/** foo references configmap/foo-configmap by one key and secret/foo-secret whole, as in Reloader's examples. */
const spec: PodSpecLike = {
  containers: [
    {
      name: 'app',
      env: [{ valueFrom: { configMapKeyRef: { name: 'foo-configmap', key: 'LEVEL' } } }],
      envFrom: [{ secretRef: { name: 'foo-secret' } }, { configMapRef: { name: 'other-configmap' } }],
    },
  ],
};

const counted = (annotations: Record<string, string>): string[] =>
  consumedSources(spec, annotations).map(
    (s) => `${s.id}${s.keys.all ? '' : `[${[...s.keys.keys].join(',')}]`}${s.requiresMatch ? ' (match)' : ''}`,
  );

describe('Reloader annotations', () => {
  it('auto: every referenced source, each by the keys the pod spec consumes', () => {
    assert.deepEqual(counted({ 'reloader.stakater.com/auto': 'true' }), [
      'configmap/foo-configmap[LEVEL]',
      'configmap/other-configmap',
      'secret/foo-secret',
    ]);
  });

  it('configmap.../auto and secret.../auto: only that kind', () => {
    assert.deepEqual(counted({ 'configmap.reloader.stakater.com/auto': 'true' }), [
      'configmap/foo-configmap[LEVEL]',
      'configmap/other-configmap',
    ]);
    assert.deepEqual(counted({ 'secret.reloader.stakater.com/auto': 'true' }), ['secret/foo-secret']);
  });

  it('reload lists: only the sources named, referenced or not (every key of one the spec does not reference)', () => {
    assert.deepEqual(counted({ 'configmap.reloader.stakater.com/reload': 'foo-configmap, unreferenced' }), [
      'configmap/foo-configmap[LEVEL]',
      'configmap/unreferenced',
    ]);
    assert.deepEqual(counted({ 'secret.reloader.stakater.com/reload': 'foo-secret' }), ['secret/foo-secret']);
    const [unreferenced] = consumedSources(spec, { 'secret.reloader.stakater.com/reload': 'tls' });
    assert.equal(unreferenced?.optional, true, 'pods start without a source they do not reference');
  });

  it('search: the referenced sources, each counting only while it carries match', () => {
    assert.deepEqual(counted({ 'reloader.stakater.com/search': 'true' }), [
      'configmap/foo-configmap[LEVEL] (match)',
      'configmap/other-configmap (match)',
      'secret/foo-secret (match)',
    ]);
    // As in Reloader, auto wins over search.
    assert.deepEqual(
      counted({ 'reloader.stakater.com/search': 'true', 'reloader.stakater.com/auto': 'true' }).filter((s) =>
        s.includes('(match)'),
      ),
      [],
    );
  });

  it('search: a source without match counts as holding nothing, so its edits change no digest', () => {
    const hasher = hasherWith(Buffer.alloc(32, 7));
    const [source] = consumedSources(spec, { 'reloader.stakater.com/search': 'true' });
    assert.ok(source);
    const state = (value: string, matched: boolean): SourceState => ({
      exists: true,
      keys: hasher.keyDigests('configmap', { data: { LEVEL: value } }),
      matched,
    });
    const digest = (value: string, matched: boolean): string | undefined =>
      hasher.sourceDigest(hasher.currentFormat(), 'app', source, state(value, matched))?.digest;
    assert.equal(digest('info', false), digest('debug', false));
    assert.notEqual(digest('info', true), digest('debug', true));
    assert.notEqual(digest('info', false), digest('info', true), 'gaining match counts it from then on');
  });

  it('exclude lists leave sources out of auto', () => {
    assert.deepEqual(
      counted({
        'reloader.stakater.com/auto': 'true',
        'configmaps.exclude.reloader.stakater.com/reload': 'other-configmap',
        'secrets.exclude.reloader.stakater.com/reload': 'foo-secret',
      }),
      ['configmap/foo-configmap[LEVEL]'],
    );
  });

  it('a workload without them, or with auto "false" only, counts what it references, as ever', () => {
    const all = ['configmap/foo-configmap[LEVEL]', 'configmap/other-configmap', 'secret/foo-secret'];
    assert.deepEqual(counted({}), all);
    assert.deepEqual(counted({ 'reloader.stakater.com/auto': 'false' }), all);
    assert.equal(isReloaderWorkload({ 'reloader.stakater.com/auto': 'false' }), false);
    assert.equal(isReloaderWorkload({ 'secret.reloader.stakater.com/reload': ' , ' }), false);
    assert.equal(isReloaderWorkload({ 'secret.reloader.stakater.com/reload': 'a' }), true);
  });

  it('are not read at all with --reloader-annotations=false', () => {
    const annotations = {
      'configmap.reloader.stakater.com/reload': 'x',
      'reloader.stakater.com/search': 'true',
      'confighash.dev/include': 'configmap/y',
      team: 'a',
    };
    assert.deepEqual(withoutReloaderAnnotations(annotations), { 'confighash.dev/include': 'configmap/y', team: 'a' });
  });

  it('are read from the pod template too, as Reloader reads them: a "true" on either is true, and both lists count', () => {
    const read = (workload: Record<string, string>, template: Record<string, string>): string[] =>
      consumedSources(spec, trackingAnnotations('Deployment', workload, true, template)).map((s) => s.id);
    assert.deepEqual(read({}, { 'reloader.stakater.com/auto': 'true' }), [
      'configmap/foo-configmap',
      'configmap/other-configmap',
      'secret/foo-secret',
    ]);
    assert.deepEqual(read({ 'reloader.stakater.com/auto': 'false' }, { 'secret.reloader.stakater.com/auto': 'true' }), [
      'secret/foo-secret',
    ]);
    assert.deepEqual(
      read(
        { 'configmap.reloader.stakater.com/reload': 'foo-configmap' },
        { 'configmap.reloader.stakater.com/reload': 'unreferenced' },
      ),
      ['configmap/foo-configmap', 'configmap/unreferenced'],
    );
    assert.equal(
      isReloaderWorkload(trackingAnnotations('Deployment', {}, true, { 'reloader.stakater.com/search': 'true' })),
      true,
    );
    // Nothing else is taken from the template, and nothing of Reloader's with --reloader-annotations=false.
    assert.deepEqual(trackingAnnotations('Deployment', {}, true, { 'confighash.dev/include': 'configmap/y' }), {});
    assert.deepEqual(trackingAnnotations('Deployment', {}, false, { 'reloader.stakater.com/auto': 'true' }), {});
  });

  it('reload lists take patterns, as Reloader does: a referenced source whose whole name matches counts', () => {
    assert.deepEqual(counted({ 'configmap.reloader.stakater.com/reload': 'foo-.*' }), [
      'configmap/foo-configmap[LEVEL]',
    ]);
    assert.deepEqual(counted({ 'secret.reloader.stakater.com/reload': '.*-secret,unreferenced' }), [
      'secret/foo-secret',
      'secret/unreferenced',
    ]);
    assert.deepEqual(counted({ 'configmap.reloader.stakater.com/reload': 'oo-.*' }), [], 'the whole name');
  });

  it('refuses a pattern it cannot match, and more than four per list, each with a warning', () => {
    const { kept, refused } = boundedAnnotations({
      'configmap.reloader.stakater.com/reload': 'a-.*,(b)+,c-.*,d-.*,e-.*,f-.*,plain',
    });
    assert.equal(kept['configmap.reloader.stakater.com/reload'], 'a-.*,c-.*,d-.*,e-.*,plain');
    assert.deepEqual(refused, [
      'configmap.reloader.stakater.com/reload: "(b)+" uses what a name pattern does not support here (groups, alternation, counted repetition): ignored',
      'configmap.reloader.stakater.com/reload: more than 4 patterns: "f-.*" ignored',
    ]);
  });
});
