import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConsumedSource, SourceId, SourceState, StateOf } from '../checksum/index.ts';
import { StampOrigins } from './stamp-origins.ts';
import type { WorkloadRecord } from './workload-store.ts';

const KEY = 'Deployment/app/web';
const SOURCES: Pick<ConsumedSource, 'id'>[] = [{ id: 'configmap/app' }, { id: 'secret/db' }];

function at(versions: Record<string, string | undefined>): StateOf {
  return (id: SourceId): SourceState => {
    const resourceVersion = versions[id];
    return resourceVersion === undefined ? { exists: false } : { exists: true, keys: new Map(), resourceVersion };
  };
}

function workload(
  checksum = 'v2:k:aaaa',
  generation = 2,
  sources = SOURCES,
): Pick<WorkloadRecord, 'key' | 'stamped' | 'generation'> & { sources: Pick<ConsumedSource, 'id'>[] } {
  return { key: KEY, stamped: { checksum, sources: '' }, generation, sources };
}

function recorded(
  versions: Record<string, string | undefined> = { 'configmap/app': '100', 'secret/db': '90' },
): StampOrigins {
  const origins = new StampOrigins();
  origins.record(KEY, { checksum: 'v2:k:aaaa', generation: 2 }, SOURCES, at(versions));
  return origins;
}

describe('StampOrigins', () => {
  it('vouches for the stores when they hold every source at or after the version its stamp was read at', () => {
    const origins = recorded();
    assert.equal(origins.storesCaughtUp(workload(), at({ 'configmap/app': '100', 'secret/db': '90' })), true);
    assert.equal(
      origins.storesCaughtUp(workload(), at({ 'configmap/app': '1000', 'secret/db': '95' })),
      true,
      'compared as numbers',
    );
  });

  it('does not when a source is behind, gone from the stores, or not ordered', () => {
    const origins = recorded();
    assert.equal(origins.storesCaughtUp(workload(), at({ 'configmap/app': '99', 'secret/db': '90' })), false);
    assert.equal(origins.storesCaughtUp(workload(), at({ 'configmap/app': '100' })), false);
    assert.equal(origins.storesCaughtUp(workload(), at({ 'configmap/app': 'opaque', 'secret/db': '90' })), false);
    assert.equal(
      recorded({ 'configmap/app': 'x1', 'secret/db': '90' }).storesCaughtUp(
        workload(),
        at({ 'configmap/app': 'x2', 'secret/db': '90' }),
      ),
      false,
    );
  });

  it('does not for another stamp, another generation, other sources, a source that did not exist, or a forgotten workload', () => {
    const now = at({ 'configmap/app': '100', 'secret/db': '90' });
    const origins = recorded();
    assert.equal(origins.storesCaughtUp(workload('v2:k:bbbb'), now), false);
    assert.equal(origins.storesCaughtUp(workload(undefined, 3), now), false);
    assert.equal(origins.storesCaughtUp(workload(undefined, undefined, SOURCES.slice(0, 1)), now), false);
    assert.equal(
      recorded({ 'configmap/app': '100' }).storesCaughtUp(workload(), now),
      false,
      'absent when read: nothing recorded',
    );
    origins.forget(KEY);
    assert.equal(origins.storesCaughtUp(workload(), now), false);
  });

  it('does not when the patch did not say its generation', () => {
    const origins = new StampOrigins();
    origins.record(
      KEY,
      { checksum: 'v2:k:aaaa', generation: undefined },
      SOURCES,
      at({ 'configmap/app': '100', 'secret/db': '90' }),
    );
    assert.equal(origins.storesCaughtUp(workload(), at({ 'configmap/app': '100', 'secret/db': '90' })), false);
  });
});
