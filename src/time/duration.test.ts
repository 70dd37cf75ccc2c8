import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('reads single and combined units', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('0s'), 0);
  });

  it('rejects anything else with an example', () => {
    for (const bad of ['', '10', 's', '10 s', '1d', '-5s', '5s!']) {
      assert.throws(() => parseDuration(bad), /invalid duration .* e\.g\. 500ms/);
    }
  });
});
