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

  it('says when a token is due without taking one', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 1, () => now);
    assert.deepEqual([bucket.wait(), bucket.wait()], [0, 0], 'looking takes nothing');
    assert.equal(bucket.take(), 0);
    assert.equal(bucket.wait(), 500);
    now += 500;
    assert.equal(bucket.wait(), 0);
    assert.equal(bucket.take(), 0);
  });
});
