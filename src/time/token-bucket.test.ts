import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('allows a burst, then one token per 1/rate seconds', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0]);
    assert.equal(bucket.take(), 500);
    now += 500;
    assert.equal(bucket.take(), 0);
    assert.equal(bucket.take(), 500);
  });

  it('never holds more than the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 2, () => now);
    now += 60_000;
    assert.deepEqual([bucket.take(), bucket.take()], [0, 0]);
    assert.ok(bucket.take() > 0);
  });

  it('takes back a token given back, up to the burst', () => {
    const bucket = new TokenBucket(2, 1, () => 0);
    assert.equal(bucket.take(), 0);
    assert.equal(bucket.take(), 500);
    bucket.giveBack();
    assert.equal(bucket.take(), 0);
    bucket.giveBack();
    bucket.giveBack();
    assert.deepEqual([bucket.take(), bucket.take()], [0, 500], 'never more than the burst');
  });
});
