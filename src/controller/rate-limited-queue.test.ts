import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { RateLimitedQueue } from './rate-limited-queue.ts';

/** A queue on node:test's fake clock (Date and setTimeout), and the depths it reported. */
function fakeClockQueue(t: TestContext): { queue: RateLimitedQueue; depths: number[] } {
  t.mock.timers.enable({ apis: ['Date', 'setTimeout'], now: 1_000_000 });
  const depths: number[] = [];
  const queue = new RateLimitedQueue(
    (depth) => depths.push(depth),
    () => Date.now(),
  );
  t.after(() => {
    queue.close();
  });
  return { queue, depths };
}

/** One call of `queue.next()`, watched: whether it has resolved, and with what. */
function nextKey(queue: RateLimitedQueue): { done: boolean; key: string | undefined } {
  const state: { done: boolean; key: string | undefined } = { done: false, key: undefined };
  void queue.next().then((key) => {
    Object.assign(state, { done: true, key });
  });
  return state;
}

/** Lets the queue's promises settle (setImmediate is not on the fake clock). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('RateLimitedQueue', () => {
  it('backs a failing key off exponentially from 100 ms to 60 s, and from the start again once forgotten', (t) => {
    const { queue } = fakeClockQueue(t);
    const backoffs = Array.from({ length: 12 }, () => queue.addRateLimited('w', 'error'));
    assert.deepEqual(backoffs, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 51_200, 60_000, 60_000]);
    assert.equal(queue.numRequeues('w'), 12);
    queue.forget('w');
    assert.equal(queue.numRequeues('w'), 0);
    assert.equal(queue.addRateLimited('w', 'error'), 100);
  });

  it("backs a conflict off from 10 ms, and keeps each key's count apart", (t) => {
    const { queue } = fakeClockQueue(t);
    assert.deepEqual([queue.addRateLimited('a', 'conflict'), queue.addRateLimited('a', 'conflict')], [10, 20]);
    assert.equal(queue.addRateLimited('b', 'error'), 100);
    assert.deepEqual([queue.numRequeues('a'), queue.numRequeues('b'), queue.numRequeues('c')], [2, 1, 0]);
  });

  it('hands a retried key out only once its backoff has passed', async (t) => {
    const { queue } = fakeClockQueue(t);
    queue.addRateLimited('w', 'error');
    const next = nextKey(queue);
    await settle();
    assert.equal(next.done, false);
    t.mock.timers.tick(99);
    await settle();
    assert.equal(next.done, false);
    t.mock.timers.tick(1);
    await settle();
    assert.deepEqual(next, { done: true, key: 'w' });
  });

  it('looks at a key again after the time asked, though an earlier add handed it out meanwhile; a later look replaces an earlier one', async (t) => {
    const { queue } = fakeClockQueue(t);
    queue.lookAgainAfter('w', 5000);
    queue.add('w');
    assert.equal(await queue.next(), 'w');
    queue.done('w');
    queue.lookAgainAfter('w', 8000);
    const next = nextKey(queue);
    t.mock.timers.tick(5000);
    await settle();
    assert.equal(next.done, false, 'the earlier look was replaced');
    t.mock.timers.tick(3000);
    await settle();
    assert.deepEqual(next, { done: true, key: 'w' });
  });

  it('bounds a look-again timer to a day, and close stops every timer', async (t) => {
    const { queue } = fakeClockQueue(t);
    queue.lookAgainAfter('far', 90 * 86_400_000);
    const far = nextKey(queue);
    t.mock.timers.tick(86_400_000 - 1);
    await settle();
    assert.equal(far.done, false);
    t.mock.timers.tick(1);
    await settle();
    assert.deepEqual(far, { done: true, key: 'far' }, 'looked at within a day');
    queue.done('far');
    queue.lookAgainAfter('closed', 1000);
    queue.close();
    t.mock.timers.tick(1000);
    assert.equal(queue.depth, 0);
    assert.equal(await queue.next(), undefined);
  });

  it('reports its depth after each add, hand-out and done', async (t) => {
    const { queue, depths } = fakeClockQueue(t);
    queue.add('a');
    queue.add('b');
    assert.equal(await queue.next(), 'a');
    queue.done('a');
    assert.deepEqual(depths, [1, 2, 2, 1]);
  });
});
