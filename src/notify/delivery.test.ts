import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startReceiver } from '../../test/support/receiver.ts';
import { until } from '../../test/support/until.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { retryAfterMs, SinkDelivery, type SinkDeliveryOptions } from './delivery.ts';
import { makeNotice, type Notice } from './notice.ts';
import { cloudevents } from './sinks/cloudevents.ts';

const WORKLOAD = { kind: 'Deployment', namespace: 'shop', name: 'web', uid: 'u1' };
const notice = (about: string): Notice =>
  makeNotice('rollout.completed', WORKLOAD, about, { summary: `rolled out ${about}`, durationSeconds: 1 });

async function count(metrics: Metrics, result: string): Promise<number> {
  const metric = await metrics.notifications.get();
  return metric.values.find((v) => v.labels['result'] === result && v.labels['sink'] === 'test')?.value ?? 0;
}

function delivery(
  t: TestContext,
  url: string,
  overrides: Partial<SinkDeliveryOptions> = {},
): { sink: SinkDelivery; metrics: Metrics } {
  const metrics = new Metrics(new Registry());
  const sink = new SinkDelivery({
    name: 'test',
    url,
    format: cloudevents,
    timeoutMs: 2000,
    retryForMs: 10_000,
    queueSize: 8,
    metrics,
    logger: pino({ level: 'silent' }),
    initialBackoffMs: 50,
    ...overrides,
  });
  t.after(() => sink.stop(0));
  return { sink, metrics };
}

describe("a sink's delivery", () => {
  it('sends each notice once, in order', async (t) => {
    const receiver = await startReceiver(t);
    const { sink, metrics } = delivery(t, receiver.url);
    for (const about of ['a', 'b', 'c']) sink.enqueue(notice(about));
    await sink.idle();
    assert.deepEqual(
      receiver.requests.map((r) => (r.json as { data: { summary: string } }).data.summary),
      ['rolled out a', 'rolled out b', 'rolled out c'],
    );
    assert.equal(await count(metrics, 'sent'), 3);
  });

  it('retries a 500 and sends the notice once it is answered 200', async (t) => {
    const receiver = await startReceiver(t, (n) => ({ status: n < 2 ? 500 : 200 }));
    const { sink, metrics } = delivery(t, receiver.url);
    sink.enqueue(notice('a'));
    await sink.idle();
    assert.equal(receiver.requests.length, 3);
    assert.equal(new Set(receiver.requests.map((r) => r.body)).size, 1, 'the same message each time');
    assert.deepEqual([await count(metrics, 'sent'), await count(metrics, 'failed')], [1, 0]);
  });

  it("waits as long as a 429's Retry-After says before trying again", async (t) => {
    const receiver = await startReceiver(t, (n) =>
      n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    const { sink, metrics } = delivery(t, receiver.url);
    sink.enqueue(notice('a'));
    await sink.idle();
    const [first, second] = receiver.requests;
    assert.ok(first);
    assert.ok(second);
    assert.ok(second.at - first.at >= 990, `retried after ${second.at - first.at} ms, not the 1 s Retry-After asked`);
    assert.equal(await count(metrics, 'sent'), 1);
  });

  it('does not retry a 4xx that retrying cannot fix, and counts it failed', async (t) => {
    const receiver = await startReceiver(t, () => ({ status: 404 }));
    const { sink, metrics } = delivery(t, receiver.url);
    sink.enqueue(notice('a'));
    await sink.idle();
    assert.equal(receiver.requests.length, 1);
    assert.equal(await count(metrics, 'failed'), 1);
  });

  it('gives a hanging sink up after its retry time, and goes on with the next notice', async (t) => {
    let hang = true;
    const receiver = await startReceiver(t, () => (hang ? 'hang' : { status: 200 }));
    const { sink, metrics } = delivery(t, receiver.url, { timeoutMs: 100, retryForMs: 400 });
    sink.enqueue(notice('a'));
    await until(async () => (await count(metrics, 'failed')) === 1, 'the hanging notice counted failed');
    hang = false;
    sink.enqueue(notice('b'));
    await sink.idle();
    assert.equal(await count(metrics, 'sent'), 1);
    assert.ok(receiver.requests.length >= 3, `${receiver.requests.length} attempts`);
  });

  it('drops what its full queue cannot hold, and counts it', async (t) => {
    const receiver = await startReceiver(t, () => 'hang');
    const { sink, metrics } = delivery(t, receiver.url, { queueSize: 2 });
    sink.enqueue(notice('a'));
    await receiver.received(1);
    for (const about of ['b', 'c', 'd']) sink.enqueue(notice(about));
    // One is being sent, two wait, one did not fit.
    assert.equal(await count(metrics, 'dropped'), 1);
  });

  it('stopping lets the queue drain within the grace time, and counts what is left dropped', async (t) => {
    const receiver = await startReceiver(t, () => 'hang');
    const { sink, metrics } = delivery(t, receiver.url, { timeoutMs: 10_000 });
    sink.enqueue(notice('a'));
    sink.enqueue(notice('b'));
    await receiver.received(1);
    await sink.stop(50);
    assert.equal(await count(metrics, 'dropped'), 2);
    assert.equal(await count(metrics, 'sent'), 0);
  });
});

describe('Retry-After', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    assert.equal(retryAfterMs('2', now), 2000);
    assert.equal(retryAfterMs('Tue, 01 Dec 2026 10:00:30 GMT', now), 30_000);
    assert.equal(retryAfterMs('Tue, 01 Dec 2026 09:00:00 GMT', now), 0);
    assert.equal(retryAfterMs('soon', now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });
});
