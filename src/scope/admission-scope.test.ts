import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionScope, type NamespaceRead } from './admission-scope.ts';
import { NamespaceScope, type NamespaceObject } from './namespace-scope.ts';

const OPTED_IN = { 'confighash.dev/enabled': 'true' };
const WINDOW = 'confighash.dev/rollout-window';

interface Fixture {
  admissionScope: AdmissionScope;
  reads: string[];
  warnings: string[];
  advance: (ms: number) => void;
}

/** A scope whose watch knows `watched` only, and an API server that holds `live`, counting reads. */
function fixture(
  live: Record<string, NamespaceObject>,
  options: { watched?: string[]; burst?: number; watchNamespaces?: string[] } = {},
): Fixture {
  const scope = new NamespaceScope({
    excluded: new Set(['kube-system']),
    defaultKeys: [WINDOW],
    ...(options.watchNamespaces ? { watchNamespaces: options.watchNamespaces } : {}),
  });
  for (const name of options.watched ?? []) scope.handler().upsert({ metadata: { name, labels: OPTED_IN } });
  const reads: string[] = [];
  const warnings: string[] = [];
  let now = 0;
  const read: NamespaceRead = (name) => {
    reads.push(name);
    return name === 'broken' ? Promise.reject(new Error('timed out')) : Promise.resolve(live[name]);
  };
  const admissionScope = new AdmissionScope({
    scope,
    read,
    logger: { warn: (_, message) => void warnings.push(message) },
    ratePerSecond: 1,
    burst: options.burst ?? 10,
    now: () => now,
  });
  return { admissionScope, reads, warnings, advance: (ms) => void (now += ms) };
}

const namespace = (name: string, labels: Record<string, string>, annotations = {}): NamespaceObject => ({
  metadata: { name, labels, annotations },
});

describe('AdmissionScope', () => {
  it('answers from the watch, without a read, for a namespace it has in scope', async () => {
    const { admissionScope, reads } = fixture({}, { watched: ['app'] });
    assert.deepEqual(await admissionScope.lookUp('app'), { defaults: {} });
    assert.deepEqual(reads, []);
  });

  it('reads a namespace the watch has not seen opt in: labelled just now, it is answered with its defaults, one read for concurrent admissions', async () => {
    const live = { fresh: namespace('fresh', OPTED_IN, { [WINDOW]: 'Mon-Fri 09:00-17:00', other: 'x' }) };
    const { admissionScope, reads } = fixture(live);
    const answers = await Promise.all([1, 2, 3].map(() => admissionScope.lookUp('fresh')));
    assert.deepEqual(
      answers,
      [1, 2, 3].map(() => ({ defaults: { [WINDOW]: 'Mon-Fri 09:00-17:00' } })),
    );
    assert.deepEqual(reads, ['fresh']);
  });

  it('answers nothing for a namespace without the label, one that does not exist, an excluded one, or one it cannot read (with a warning)', async () => {
    const live = {
      plain: namespace('plain', {}),
      'kube-system': namespace('kube-system', OPTED_IN),
    };
    const { admissionScope, warnings } = fixture(live);
    for (const name of ['plain', 'gone', 'kube-system', 'broken', ''])
      assert.equal(await admissionScope.lookUp(name), undefined, name);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /could not read the namespace/);
  });

  it('reads no more than its budget: beyond it, answers nothing unread until the budget refills', async () => {
    const { admissionScope, reads, advance } = fixture({}, { burst: 2 });
    for (const name of ['a', 'b', 'c', 'd']) assert.equal(await admissionScope.lookUp(name), undefined);
    assert.deepEqual(reads, ['a', 'b']);
    advance(1000);
    await admissionScope.lookUp('e');
    assert.deepEqual(reads, ['a', 'b', 'e']);
  });

  it('never reads in a namespaced install: the namespaces are named', async () => {
    const { admissionScope, reads } = fixture({ other: namespace('other', OPTED_IN) }, { watchNamespaces: ['team'] });
    assert.deepEqual(await admissionScope.lookUp('team'), { defaults: {} });
    assert.equal(await admissionScope.lookUp('other'), undefined);
    assert.deepEqual(reads, []);
  });
});
