import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../time/duration.ts';
import { parseRunOptions } from './run-options.ts';

describe('run options', () => {
  it('refuse a zero interval or timeout, which would spin or fail everything', () => {
    for (const flag of ['--tls-check-interval', '--source-read-timeout', '--tls-cert-validity', '--tls-ca-validity']) {
      assert.throws(() => parseRunOptions([`${flag}=0s`], {}), new RegExp(`${flag} must be longer than 0`));
    }
  });

  it('relist nothing periodically unless asked', () => {
    assert.equal(parseRunOptions([], {}).relistIntervalMs, 0);
    assert.equal(parseRunOptions(['--relist-interval=6h'], {}).relistIntervalMs, 6 * 3_600_000);
  });

  it('accept a coalescing window of 0, written bare or with a unit', () => {
    assert.equal(parseRunOptions(['--coalesce-window=0'], {}).coalesceWindowMs, 0);
    assert.equal(parseRunOptions(['--coalesce-window=0s'], {}).coalesceWindowMs, 0);
    assert.equal(parseDuration('0'), 0);
  });
});
