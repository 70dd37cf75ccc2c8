import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedSources } from './reconciler.ts';

describe('changedSources', () => {
  it('names the sources whose digest changed, appeared or disappeared', () => {
    assert.deepEqual(
      changedSources('configmap/a=111111111111,secret/b=222222222222,configmap/gone=333333333333', 'configmap/a=111111111111,secret/b=444444444444,configmap/new=missing'),
      [
        'configmap/gone (333333333333 → untracked)',
        'configmap/new (untracked → missing)',
        'secret/b (222222222222 → 444444444444)',
      ],
    );
    assert.deepEqual(changedSources(undefined, 'configmap/a=111111111111'), ['configmap/a (untracked → 111111111111)']);
  });
});
