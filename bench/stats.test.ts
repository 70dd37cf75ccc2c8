import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distribution, percentile } from './stats.ts';

describe('benchmark statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(hundred, 50), 50);
    assert.equal(percentile(hundred, 95), 95);
    assert.equal(percentile(hundred, 99), 99);
    assert.equal(percentile(hundred, 100), 100);
    assert.equal(percentile([7], 99), 7);
  });

  it('summarises unsorted samples, and refuses none', () => {
    assert.deepEqual(distribution([3, 1, 2, 4]), { count: 4, median: 2, p95: 4, p99: 4, max: 4, mean: 2.5 });
    assert.throws(() => distribution([]), /no samples/);
  });
});
