import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NamespaceScope } from './namespace-scope.ts';

const excluded = new Set(['confighash-system', 'kube-system']);

describe('NamespaceScope', () => {
  it('tracks labelled namespaces once listed, never the excluded ones, and says when one comes or goes', () => {
    const scope = new NamespaceScope({ excluded });
    const changed: string[] = [];
    scope.onChange((ns) => changed.push(ns));
    assert.equal(scope.synced, false);
    const handler = scope.handler();
    for (const name of ['app', 'kube-system', 'other']) {
      handler.upsert({ metadata: { name, labels: name === 'other' ? {} : { 'confighash.dev/enabled': 'true' } } });
    }
    handler.prune(new Set(['app', 'kube-system', 'other']));
    assert.equal(scope.synced, true);
    assert.deepEqual(['app', 'kube-system', 'other'].map((ns) => scope.tracks(ns)), [true, false, false]);
    handler.upsert({ metadata: { name: 'app', labels: {} } });
    assert.equal(scope.tracks('app'), false);
    assert.deepEqual(changed, ['app', 'kube-system', 'app']);
    assert.deepEqual(scope.webhookSelector(), {
      matchLabels: { 'confighash.dev/enabled': 'true' },
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['confighash-system', 'kube-system'] }],
    });
  });

  it('in a namespaced install, tracks exactly the namespaces named, without watching Namespaces', () => {
    const scope = new NamespaceScope({ excluded, watchNamespaces: ['team-b', 'team-a', 'kube-system'] });
    assert.deepEqual([scope.synced, scope.watchesLabels], [true, false]);
    assert.deepEqual(scope.watchNamespaces, ['team-a', 'team-b']);
    assert.deepEqual(['team-a', 'kube-system', 'app'].map((ns) => scope.tracks(ns)), [true, false, false]);
    assert.deepEqual(scope.webhookSelector(), { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a', 'team-b'] }] });
  });
});
