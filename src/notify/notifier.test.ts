import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type Receiver, startReceiver } from '../../test/support/receiver.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { makeNotice, type Notice, type NoticeType } from './notice.ts';
import { Notifier } from './notifier.ts';
import type { SinkSettings } from './settings.ts';

const notice = (type: NoticeType, namespace: string, about = 'a'): Notice =>
  makeNotice(type, { kind: 'Deployment', namespace, name: 'web', uid: `uid-${namespace}` }, about, { summary: 's' });
const sink = (name: string, receiver: Receiver, filters: Partial<SinkSettings> = {}): SinkSettings => ({
  name,
  type: 'cloudevents',
  url: receiver.url,
  timeoutMs: 2000,
  retryForMs: 5000,
  ...filters,
});
const types = (receiver: Receiver): string[] =>
  receiver.requests.map(
    (r) =>
      `${(r.json as { type: string }).type} ${(r.json as { data: { workload: { namespace: string } } }).data.workload.namespace}`,
  );

function notifier(t: TestContext): Notifier {
  const created = new Notifier({ metrics: new Metrics(new Registry()), logger: pino({ level: 'silent' }) });
  t.after(() => created.stop(0));
  return created;
}

describe('the notifier', () => {
  it('sends each sink the types and namespaces it asked for', async (t) => {
    const [all, failures, shop] = [await startReceiver(t), await startReceiver(t), await startReceiver(t)];
    const n = notifier(t);
    n.configure([
      sink('all', all),
      sink('failures', failures, { events: new Set(['rollout.failed']) }),
      sink('shop', shop, { namespaces: new Set(['shop']) }),
    ]);
    n.publish(notice('rollout.started', 'shop'));
    n.publish(notice('rollout.failed', 'blog'));
    await n.idle();
    assert.deepEqual(types(all), ['dev.confighash.rollout.started shop', 'dev.confighash.rollout.failed blog']);
    assert.deepEqual(types(failures), ['dev.confighash.rollout.failed blog']);
    assert.deepEqual(types(shop), ['dev.confighash.rollout.started shop']);
  });

  it('publishes a notice it has published before only once', async (t) => {
    const receiver = await startReceiver(t);
    const n = notifier(t);
    n.configure([sink('one', receiver)]);
    n.publish(notice('rollout.started', 'shop'));
    n.publish(notice('rollout.started', 'shop'));
    n.publish(notice('rollout.started', 'shop', 'another rollout'));
    await n.idle();
    assert.equal(receiver.requests.length, 2);
  });

  it('sends nothing without sinks, and to the new sinks once reconfigured', async (t) => {
    const [before, after] = [await startReceiver(t), await startReceiver(t)];
    const n = notifier(t);
    n.publish(notice('rollout.started', 'shop', 'none'));
    n.configure([sink('chat', before)]);
    n.publish(notice('rollout.started', 'shop', 'first'));
    await n.idle();
    n.configure([sink('chat', after)]);
    n.publish(notice('rollout.started', 'shop', 'second'));
    await n.idle();
    n.configure([]);
    n.publish(notice('rollout.started', 'shop', 'third'));
    await n.idle();
    assert.deepEqual([before.requests.length, after.requests.length], [1, 1]);
  });
});
