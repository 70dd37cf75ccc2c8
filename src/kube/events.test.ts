import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Metrics } from '../telemetry/metrics.ts';
import { EventCorrelator, type EventTarget } from './event-correlator.ts';
import { type CoreEvent, type EventApi, EventRecorder } from './events.ts';
import { ApiRequestError } from './raw.ts';

const web: EventTarget = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'app', name: 'web', uid: 'u1' };
const api: EventTarget = { ...web, name: 'api', uid: 'u2' };

/** Events as an API server keeps them, by namespace/name. */
class FakeEvents implements EventApi {
  readonly stored = new Map<string, CoreEvent>();
  calls = 0;
  /** Held until released: lets a test queue Events behind a slow write. */
  gate: Promise<void> = Promise.resolve();

  async create(namespace: string, event: CoreEvent): Promise<boolean> {
    this.calls++;
    await this.gate;
    const key = `${namespace}/${event.metadata.name}`;
    if (this.stored.has(key)) return false;
    this.stored.set(key, event);
    return true;
  }

  async count(namespace: string, name: string): Promise<number | undefined> {
    this.calls++;
    return this.stored.get(`${namespace}/${name}`)?.count;
  }

  async update(namespace: string, name: string, fields: { count: number; message: string }): Promise<void> {
    this.calls++;
    const event = this.stored.get(`${namespace}/${name}`);
    if (!event) throw new ApiRequestError(404, 'not found');
    this.stored.set(`${namespace}/${name}`, { ...event, ...fields });
  }
}

function recorder(
  events: EventApi,
  options: Partial<ConstructorParameters<typeof EventRecorder>[0]> = {},
): { recorder: EventRecorder; metrics: Metrics } {
  const metrics = new Metrics(new Registry());
  return {
    recorder: new EventRecorder({
      api: events,
      logger: pino({ level: 'silent' }),
      metrics,
      ratePerSecond: 1000,
      burst: 1000,
      ...options,
    }),
    metrics,
  };
}

async function counter(metrics: Metrics, result: string): Promise<number> {
  return (await metrics.events.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

describe('EventCorrelator', () => {
  it('gives a repeated Event the same name and a growing count', () => {
    const correlator = new EventCorrelator();
    const first = correlator.correlate({ target: web, type: 'Warning', reason: 'MissingSource', message: 'm' });
    const second = correlator.correlate({ target: web, type: 'Warning', reason: 'MissingSource', message: 'm' });
    assert.equal(first.kind, 'write');
    assert.equal(second.kind, 'write');
    assert.equal(first.name, second.name);
    assert.deepEqual([first.count, second.count], [1, 2]);
    assert.match(first.name, /^web\.[0-9a-f]{16}$/);
    const other = new EventCorrelator().correlate({
      target: web,
      type: 'Warning',
      reason: 'MissingSource',
      message: 'm',
    });
    assert.deepEqual(
      other.kind === 'write' ? other.name : other,
      first.name,
      'another process (a restart, a new leader) names it the same',
    );
  });

  it('folds similar Events with many messages into one aggregate', () => {
    const correlator = new EventCorrelator({ aggregateThreshold: 3 });
    const names = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const written = correlator.correlate({
        target: web,
        type: 'Normal',
        reason: 'ConfigChanged',
        message: `change ${i}`,
      });
      assert.ok(written.kind === 'write');
      names.add(written.name);
      if (i >= 3) assert.match(written.input.message, /^\(combined from similar events\): change \d$/);
    }
    assert.equal(names.size, 4, 'three Events, then one aggregate');
  });

  it("drops an object's Events beyond its budget, and not another object's", () => {
    let now = 0;
    const correlator = new EventCorrelator({ spamBurst: 5, spamRefillPerSecond: 1 / 300, now: () => now });
    const kinds = Array.from(
      { length: 8 },
      (_, i) => correlator.correlate({ target: web, type: 'Warning', reason: `R${i}`, message: 'm' }).kind,
    );
    assert.deepEqual(kinds, ['write', 'write', 'write', 'write', 'write', 'drop', 'drop', 'drop']);
    assert.equal(correlator.correlate({ target: api, type: 'Warning', reason: 'R', message: 'm' }).kind, 'write');
    now += 300_000;
    assert.equal(
      correlator.correlate({ target: web, type: 'Warning', reason: 'R9', message: 'm' }).kind,
      'write',
      'refilled',
    );
  });

  it('sends Events about cluster-scoped objects to the default namespace', () => {
    const written = new EventCorrelator().correlate({
      target: { ...web, kind: 'MutatingWebhookConfiguration', namespace: '' },
      type: 'Warning',
      reason: 'R',
      message: 'm',
    });
    assert.deepEqual(written.kind === 'write' ? written.namespace : written, 'default');
  });
});

describe('EventRecorder', () => {
  it('returns at once, writes in the background, and bumps the count of a repeated Event', async () => {
    const events = new FakeEvents();
    const { recorder: r, metrics } = recorder(events);
    r.record(web, 'Warning', 'MissingSource', 'configmap/app does not exist');
    r.record(web, 'Warning', 'MissingSource', 'configmap/app does not exist');
    await r.idle();
    assert.equal(events.stored.size, 1);
    assert.equal([...events.stored.values()][0]?.count, 2);
    assert.equal(await counter(metrics, 'created'), 1);
    await r.stop();
  });

  it('bumps the count of an Event a previous process recorded, instead of adding one', async () => {
    const events = new FakeEvents();
    for (let restart = 0; restart < 3; restart++) {
      const { recorder: r } = recorder(events);
      r.record(web, 'Warning', 'MissingSource', 'configmap/app does not exist');
      await r.idle();
      await r.stop();
    }
    assert.equal(events.stored.size, 1);
    assert.equal([...events.stored.values()][0]?.count, 3);
  });

  it('folds repeats of a waiting Event into one write, and drops new Events when the queue is full', async () => {
    const events = new FakeEvents();
    const released = Promise.withResolvers<undefined>();
    events.gate = released.promise.then(() => undefined);
    const { recorder: r, metrics } = recorder(events, {
      queueSize: 2,
      correlator: new EventCorrelator({ spamBurst: 1000 }),
    });
    r.record(web, 'Normal', 'A', 'being written');
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 50; i++) r.record(web, 'Warning', 'B', 'same');
    r.record(web, 'Warning', 'C', 'second in the queue');
    r.record(web, 'Warning', 'D', 'no room');
    released.resolve(undefined);
    await r.idle();
    await r.stop();
    assert.deepEqual(
      [...events.stored.values()].map((e) => [e.reason, e.count]),
      [
        ['A', 1],
        ['B', 50],
        ['C', 1],
      ],
    );
    assert.equal(await counter(metrics, 'queue_full'), 1);
  });

  it('counts and logs a write the API server refuses, and goes on', async () => {
    const failing: EventApi = {
      create: async () => Promise.reject(new ApiRequestError(403, 'forbidden')),
      count: async () => undefined,
      update: async () => undefined,
    };
    const { recorder: r, metrics } = recorder(failing);
    r.record(web, 'Normal', 'A', 'm');
    r.record(api, 'Normal', 'A', 'm');
    await r.idle();
    await r.stop();
    assert.equal(await counter(metrics, 'failed'), 2);
  });
});
