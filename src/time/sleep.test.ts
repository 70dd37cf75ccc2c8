import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { sleep } from './sleep.ts';

describe('sleep', () => {
  it('leaves no abort listener behind when the timer fires', async () => {
    const stopped = new AbortController();
    for (let i = 0; i < 1000; i++) await sleep(0, stopped.signal);
    assert.equal(getEventListeners(stopped.signal, 'abort').length, 0);
  });

  it('resolves at once when the signal aborts, and at once if it already has', async () => {
    const stopped = new AbortController();
    const long = sleep(60_000, stopped.signal);
    stopped.abort();
    await long;
    await sleep(60_000, stopped.signal);
    assert.equal(getEventListeners(stopped.signal, 'abort').length, 0);
  });
});
