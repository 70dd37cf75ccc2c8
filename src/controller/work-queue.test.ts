import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WorkQueue } from './work-queue.ts';

describe('WorkQueue', () => {
  it('hands out each key once, in due order', async () => {
    const queue = new WorkQueue();
    queue.add('b', 20);
    queue.add('a');
    queue.add('a');
    assert.equal(queue.depth, 2);
    assert.equal(await queue.next(), 'a');
    assert.equal(await queue.next(), 'b');
  });

  it('keeps the earlier due time when a waiting key is added again (coalescing)', async () => {
    let now = 1000;
    const queue = new WorkQueue(() => now);
    queue.add('w', 5000);
    now += 1000;
    queue.add('w', 5000);
    now = 6000;
    assert.equal(await queue.next(), 'w');
  });

  it('does not hand out a key in process; re-adds it after done', async () => {
    const queue = new WorkQueue();
    queue.add('k');
    assert.equal(await queue.next(), 'k');
    queue.add('k');
    assert.equal(queue.depth, 1);
    queue.done('k');
    assert.equal(await queue.next(), 'k');
    queue.done('k');
    assert.equal(queue.depth, 0);
  });

  it('wakes a waiting worker on add, and every worker with undefined on close', async () => {
    const queue = new WorkQueue();
    const first = queue.next();
    const second = queue.next();
    queue.add('x');
    assert.equal(await Promise.race([first, second]), 'x');
    queue.close();
    assert.deepEqual((await Promise.all([first, second])).sort(), ['x', undefined]);
  });
});
