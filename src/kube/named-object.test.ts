import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { DrivenListWatch } from '../../test/support/fake-api.ts';
import { until } from '../../test/support/until.ts';
import { watchNamedObject } from './named-object.ts';
import type { KubeObject } from './watcher.ts';

const logger = pino({ level: 'silent' });
const secret = (resourceVersion: string): KubeObject => ({
  metadata: { name: 'key', namespace: 'confighash', resourceVersion },
});

describe('watchNamedObject', () => {
  const object = {
    watcher: 'hmac-key',
    collection: '/api/v1/namespaces/confighash/secrets',
    namespace: 'confighash',
    name: 'key',
  };

  it('lists and watches that one name, and tells each version of it, then its deletion', async () => {
    const api = new DrivenListWatch(() => [secret('5')]);
    const seen: (string | undefined)[] = [];
    const watcher = watchNamedObject(api, object, (current) => seen.push(current?.metadata?.resourceVersion), {
      logger,
    });
    watcher.start();
    await until(() => api.watching, 'the watch');
    api.send('MODIFIED', secret('11'));
    api.send('DELETED', secret('12'));
    await watcher.stop();
    assert.deepEqual(seen, ['5', '11', undefined]);
    assert.deepEqual(api.calls, [
      `list ${object.collection} metadata.name=key`,
      `watch ${object.collection} metadata.name=key`,
    ]);
  });

  it('tells its absence when a list finds nothing, and its creation after', async () => {
    const api = new DrivenListWatch();
    const seen: (string | undefined)[] = [];
    const watcher = watchNamedObject(api, object, (current) => seen.push(current?.metadata?.resourceVersion), {
      logger,
    });
    watcher.start();
    await until(() => api.watching, 'the watch');
    api.send('ADDED', secret('11'));
    await watcher.stop();
    assert.deepEqual(seen, [undefined, '11']);
    assert.equal(watcher.resource, 'hmac-key');
  });
});
