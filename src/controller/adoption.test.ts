import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SourceHistory } from '../sources/store.ts';
import { stateAtCreation } from './adoption.ts';

const OLD_KEYS = new Map([['a', 'old']]);
const T = Date.parse('2026-12-07T10:00:00Z');
const INSTALLED = T - 3_600_000;

function source(history: Partial<SourceHistory>): SourceHistory {
  return {
    keysSince: '50',
    writtenAt: T - 60_000,
    createdAt: T - 60_000,
    createdResourceVersion: undefined,
    previous: undefined,
    ...history,
  };
}

describe('stateAtCreation, when the watch saw the workload created (resourceVersions)', () => {
  const workload = { resourceVersion: '100', at: T };

  it('a source whose digests took effect before the workload was created: current', () => {
    assert.deepEqual(stateAtCreation(workload, source({ keysSince: '99' }), INSTALLED), { kind: 'current' });
  });

  it('a source changed after it, whose previous digests took effect before: the previous digests', () => {
    const changed = source({ keysSince: '105', previous: { keys: OLD_KEYS, keysSince: '50' } });
    assert.deepEqual(stateAtCreation(workload, changed, INSTALLED), { kind: 'previous', keys: OLD_KEYS });
  });

  it('a source changed after it, whose earlier digests are not known (or changed after it too): unknown', () => {
    assert.deepEqual(stateAtCreation(workload, source({ keysSince: '105' }), INSTALLED), { kind: 'unknown' });
    const twice = source({ keysSince: '110', previous: { keys: OLD_KEYS, keysSince: '105' } });
    assert.deepEqual(stateAtCreation(workload, twice, INSTALLED), { kind: 'unknown' });
  });

  it('a source created after it and not changed since: current (the pods could not start without it); changed since: unknown', () => {
    assert.deepEqual(
      stateAtCreation(workload, source({ keysSince: '101', createdResourceVersion: '101' }), INSTALLED),
      { kind: 'current' },
    );
    const changed = source({
      keysSince: '104',
      createdResourceVersion: '101',
      previous: { keys: OLD_KEYS, keysSince: '101' },
    });
    assert.deepEqual(stateAtCreation(workload, changed, INSTALLED), { kind: 'unknown' });
  });

  it('orders resourceVersions as numbers, not as text', () => {
    assert.deepEqual(stateAtCreation({ resourceVersion: '99', at: T }, source({ keysSince: '100' }), INSTALLED), {
      kind: 'unknown',
    });
    assert.deepEqual(stateAtCreation({ resourceVersion: '100', at: T }, source({ keysSince: '99' }), INSTALLED), {
      kind: 'current',
    });
  });

  it('falls back to timestamps when a resourceVersion is not a decimal integer', () => {
    assert.deepEqual(
      stateAtCreation(
        { resourceVersion: 'opaque', at: T },
        source({ keysSince: '105', writtenAt: T + 2_000 }),
        INSTALLED,
      ),
      { kind: 'unknown' },
    );
    assert.deepEqual(
      stateAtCreation(
        { resourceVersion: 'opaque', at: T },
        source({ keysSince: '105', writtenAt: T - 2_000 }),
        INSTALLED,
      ),
      { kind: 'current' },
    );
  });
});

describe('stateAtCreation, when it was not (timestamps, to the second)', () => {
  const workload = { at: T + 400 };

  it('a source last written in an earlier second: current', () => {
    assert.deepEqual(stateAtCreation(workload, source({ writtenAt: T - 1 }), INSTALLED), { kind: 'current' });
  });

  it('a source written in a later second: unknown (the workload rolls once)', () => {
    assert.deepEqual(stateAtCreation(workload, source({ writtenAt: T + 1_000 }), INSTALLED), { kind: 'unknown' });
  });

  it('a source created in the same second and not written since (applied together): current', () => {
    assert.deepEqual(stateAtCreation(workload, source({ createdAt: T + 100, writtenAt: T + 900 }), INSTALLED), {
      kind: 'current',
    });
  });

  it('a source created after it, in a later second, and not written since: current; written later: unknown', () => {
    assert.deepEqual(stateAtCreation(workload, source({ createdAt: T + 5_000, writtenAt: T + 5_000 }), INSTALLED), {
      kind: 'current',
    });
    assert.deepEqual(stateAtCreation(workload, source({ createdAt: T + 5_000, writtenAt: T + 7_000 }), INSTALLED), {
      kind: 'unknown',
    });
  });

  it('a source that existed before and was written in the same second: unknown (a rollout too many rather than one missed)', () => {
    assert.deepEqual(stateAtCreation(workload, source({ writtenAt: T + 800 }), INSTALLED), { kind: 'unknown' });
  });

  it("digests that took effect after the workload's latest write: unknown, whatever the timestamps say", () => {
    assert.deepEqual(
      stateAtCreation(
        { ...workload, latestResourceVersion: '120' },
        source({ keysSince: '121', createdAt: T + 100, writtenAt: T + 900 }),
        INSTALLED,
      ),
      { kind: 'unknown' },
    );
    assert.deepEqual(
      stateAtCreation(
        { ...workload, latestResourceVersion: '120' },
        source({ keysSince: '119', createdAt: T + 100, writtenAt: T + 900 }),
        INSTALLED,
      ),
      { kind: 'current' },
    );
  });

  it('a source whose write time is not recorded: unknown', () => {
    assert.deepEqual(stateAtCreation(workload, source({ writtenAt: undefined }), INSTALLED), { kind: 'unknown' });
  });

  it('a workload created before confighash was installed is adopted as it is', () => {
    assert.deepEqual(stateAtCreation({ at: INSTALLED - 1_000 }, source({ writtenAt: T }), INSTALLED), {
      kind: 'current',
    });
  });

  it('a workload whose creation is not known is adopted as it is', () => {
    assert.deepEqual(stateAtCreation({}, source({ writtenAt: T }), INSTALLED), { kind: 'current' });
  });
});
