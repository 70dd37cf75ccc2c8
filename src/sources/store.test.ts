import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasherWith } from '../../test/support/hasher.ts';
import { SourceStore } from './store.ts';

function store(): { sources: SourceStore; changes: string[] } {
  const sources = new SourceStore(hasherWith(Buffer.alloc(32, 1)), new Set(['kube-system']));
  const changes: string[] = [];
  sources.onChange((namespace, id) => changes.push(`${namespace}/${id}`));
  return { sources, changes };
}

const cm = (resourceVersion: string, data: Record<string, string>, labels: Record<string, string> = {}): object => ({
  metadata: { namespace: 'app', name: 'config', resourceVersion, labels },
  data,
});

describe('SourceStore', () => {
  it('reports a new source, and a change of its data, but not of its metadata', () => {
    const { sources, changes } = store();
    const handler = sources.handler('configmap');
    handler.upsert(cm('1', { a: '1' }));
    handler.upsert(cm('2', { a: '1' }, { team: 'x' }));
    handler.upsert(cm('3', { a: '2' }, { team: 'x' }));
    assert.deepEqual(changes, ['app/configmap/config', 'app/configmap/config']);
    assert.equal(sources.state('app', 'configmap/config').exists, true);
  });

  it('keeps per-key digests, not values', () => {
    const { sources } = store();
    sources.handler('configmap').upsert(cm('1', { big: 'x'.repeat(100_000) }));
    const state = sources.state('app', 'configmap/config');
    assert.ok(state.exists);
    assert.equal(Buffer.from(state.keys.get('big') ?? '', 'base64').length, 32);
  });

  it('reports deletions, including those a relist finds', () => {
    const { sources, changes } = store();
    const handler = sources.handler('secret');
    handler.upsert({ metadata: { namespace: 'app', name: 'a', resourceVersion: '1' }, data: {} });
    handler.upsert({ metadata: { namespace: 'app', name: 'b', resourceVersion: '1' }, data: {} });
    handler.remove({ metadata: { namespace: 'app', name: 'a' } });
    handler.prune(new Set());
    assert.deepEqual(changes, ['app/secret/a', 'app/secret/b', 'app/secret/a', 'app/secret/b']);
    assert.deepEqual(sources.size(), { sources: 0, keys: 0 });
  });

  it('ignores namespaces confighash never acts in', () => {
    const { sources, changes } = store();
    sources
      .handler('configmap')
      .upsert({ metadata: { namespace: 'kube-system', name: 'x', resourceVersion: '1' }, data: { a: '1' } });
    assert.deepEqual(changes, []);
    assert.equal(sources.state('kube-system', 'configmap/x').exists, false);
  });

  it('keeps what adoption needs of a source: since when its digests hold, its creation when seen, its last write, its previous digests', () => {
    const { sources } = store();
    const handler = sources.handler('configmap');
    const at = (
      resourceVersion: string,
      data: Record<string, string>,
      time: string,
      labels: Record<string, string> = {},
    ): object => ({
      metadata: {
        namespace: 'app',
        name: 'config',
        resourceVersion,
        labels,
        creationTimestamp: '2026-12-07T10:00:00Z',
        managedFields: [{ time: '2026-12-07T10:00:00Z' }, { time }],
      },
      data,
    });
    handler.upsert(at('10', { a: '1' }, '2026-12-07T10:00:00Z'), 'added');
    handler.upsert(at('11', { a: '1' }, '2026-12-07T10:00:05Z', { team: 'x' }), 'modified');
    const labelled = sources.history('app', 'configmap/config');
    assert.deepEqual(
      { ...labelled, previous: undefined },
      {
        keysSince: '10',
        writtenAt: Date.parse('2026-12-07T10:00:00Z'),
        createdAt: Date.parse('2026-12-07T10:00:00Z'),
        createdResourceVersion: '10',
        previous: undefined,
      },
      'a metadata-only edit moves nothing',
    );
    handler.upsert(at('12', { a: '2' }, '2026-12-07T10:00:09Z'), 'modified');
    const changed = sources.history('app', 'configmap/config');
    assert.equal(changed?.keysSince, '12');
    assert.equal(changed.writtenAt, Date.parse('2026-12-07T10:00:09Z'));
    assert.equal(changed.createdResourceVersion, '10');
    assert.equal(changed.previous?.keysSince, '10');
    assert.equal(sources.history('app', 'configmap/other'), undefined);
  });

  it('knows no creation of a source it listed', () => {
    const { sources } = store();
    sources.handler('configmap').upsert(cm('7', { a: '1' }), 'listed');
    assert.equal(sources.history('app', 'configmap/config')?.createdResourceVersion, undefined);
  });
});
