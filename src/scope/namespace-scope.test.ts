import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLabelSelector } from './label-selector.ts';
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
    assert.deepEqual(
      ['app', 'kube-system', 'other'].map((ns) => scope.tracks(ns)),
      [true, false, false],
    );
    handler.upsert({ metadata: { name: 'app', labels: {} } });
    assert.equal(scope.tracks('app'), false);
    assert.deepEqual(changed, ['app', 'kube-system', 'app']);
    assert.deepEqual(scope.webhookSelector(), {
      matchLabels: { 'confighash.dev/enabled': 'true' },
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['confighash-system', 'kube-system'] },
      ],
    });
  });

  it("tracks Reloader's workloads in any namespace, or only where --reloader-namespace-selector selects, as Reloader's --namespace-selector", () => {
    const anywhere = new NamespaceScope({
      excluded,
      reloaderWorkloads: true,
      reloaderSelector: parseLabelSelector(''),
    });
    assert.deepEqual([anywhere.tracks('team-a', true), anywhere.tracks('kube-system', true)], [true, false]);

    const bounded = new NamespaceScope({
      excluded,
      reloaderWorkloads: true,
      reloaderSelector: parseLabelSelector('reloader=on'),
    });
    const changed: string[] = [];
    bounded.onChange((ns) => changed.push(ns));
    const handler = bounded.handler();
    handler.upsert({ metadata: { name: 'team-a', labels: { reloader: 'on' } } });
    handler.upsert({ metadata: { name: 'team-b', labels: {} } });
    handler.prune(new Set(['team-a', 'team-b']));
    assert.deepEqual(
      [bounded.tracks('team-a', true), bounded.tracks('team-b', true), bounded.tracks('team-a', false)],
      [true, false, false],
    );
    handler.upsert({ metadata: { name: 'team-a', labels: {} } });
    assert.equal(bounded.tracks('team-a', true), false);
    assert.deepEqual(changed, ['team-a', 'team-a'], 'told as it came into and left the scope');
  });

  it('tracks the namespaces a --namespace-selector selects, and gives the webhook the same selector', () => {
    const scope = new NamespaceScope({
      excluded: new Set([...excluded, 'payments-sandbox']),
      selector: parseLabelSelector('team in (payments,shop),!legacy'),
    });
    const handler = scope.handler();
    const namespaces: [string, Record<string, string>][] = [
      ['payments', { team: 'payments' }],
      ['shop-old', { team: 'shop', legacy: 'true' }],
      ['labelled', { 'confighash.dev/enabled': 'true' }],
      ['payments-sandbox', { team: 'payments' }],
    ];
    for (const [name, labels] of namespaces) handler.upsert({ metadata: { name, labels } });
    handler.prune(new Set(namespaces.map(([name]) => name)));
    assert.deepEqual(
      namespaces.map(([name]) => scope.tracks(name)),
      [true, false, false, false],
    );
    assert.deepEqual(scope.webhookSelector(), {
      matchExpressions: [
        { key: 'team', operator: 'In', values: ['payments', 'shop'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        {
          key: 'kubernetes.io/metadata.name',
          operator: 'NotIn',
          values: ['confighash-system', 'kube-system', 'payments-sandbox'],
        },
      ],
    });
  });

  it('in a namespaced install, tracks exactly the namespaces named, without watching Namespaces', () => {
    const scope = new NamespaceScope({ excluded, watchNamespaces: ['team-b', 'team-a', 'kube-system'] });
    assert.deepEqual([scope.synced, scope.watchesLabels], [true, false]);
    assert.deepEqual(scope.watchNamespaces, ['team-a', 'team-b']);
    assert.deepEqual(
      ['team-a', 'kube-system', 'app'].map((ns) => scope.tracks(ns)),
      [true, false, false],
    );
    assert.deepEqual(scope.webhookSelector(), {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['team-a', 'team-b'] }],
    });
  });
});
