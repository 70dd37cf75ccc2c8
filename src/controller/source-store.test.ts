import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasherWith } from '../../test/support/hasher.ts';
import { SourceStore } from './source-store.ts';

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
    sources.handler('configmap').upsert({ metadata: { namespace: 'kube-system', name: 'x', resourceVersion: '1' }, data: { a: '1' } });
    assert.deepEqual(changes, []);
    assert.equal(sources.state('kube-system', 'configmap/x').exists, false);
  });
});
