import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { until } from '../../test/support/until.ts';
import { watchNamedObject } from './named-object.ts';
import type { ListPage, WatchHandlers } from './raw.ts';
import type { KubeObject, ListWatchClient } from './watcher.ts';

const logger = pino({ level: 'silent' });
const secret = (resourceVersion: string): KubeObject => ({
  metadata: { name: 'key', namespace: 'confighash', resourceVersion },
});

/** Lists `listed`, then sends `events` on the first watch and holds it open. */
function client(listed: KubeObject[], events: [string, KubeObject][]): ListWatchClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async list<T>(
      path: string,
      query: Record<string, string | number | undefined>,
      onItem: (item: T) => void,
    ): Promise<ListPage<T>['metadata']> {
      calls.push(`list ${path} ${String(query['fieldSelector'])}`);
      for (const item of listed) onItem(item as T);
      return { resourceVersion: '10' };
    },
    watch(path: string, query: Record<string, string | number | boolean>, { onOpen, onEvent, onDone }: WatchHandlers) {
      calls.push(`watch ${path} ${String(query['fieldSelector'])}`);
      setImmediate(() => {
        onOpen();
        for (const [type, object] of events.splice(0)) onEvent(type, object);
      });
      return {
        abort: () => {
          onDone();
        },
      };
    },
  };
}

describe('watchNamedObject', () => {
  const object = {
    watcher: 'hmac-key',
    collection: '/api/v1/namespaces/confighash/secrets',
    namespace: 'confighash',
    name: 'key',
  };

  it('lists and watches that one name, and tells each version of it, then its deletion', async () => {
    const api = client(
      [secret('5')],
      [
        ['MODIFIED', secret('11')],
        ['DELETED', secret('12')],
      ],
    );
    const seen: (string | undefined)[] = [];
    const watcher = watchNamedObject(api, object, (current) => seen.push(current?.metadata?.resourceVersion), {
      logger,
    });
    watcher.start();
    await until(() => seen.length === 3, 'the deletion');
    await watcher.stop();
    assert.deepEqual(seen, ['5', '11', undefined]);
    assert.deepEqual(api.calls, [
      `list ${object.collection} metadata.name=key`,
      `watch ${object.collection} metadata.name=key`,
    ]);
  });

  it('tells its absence when a list finds nothing, and its creation after', async () => {
    const api = client([], [['ADDED', secret('11')]]);
    const seen: (string | undefined)[] = [];
    const watcher = watchNamedObject(api, object, (current) => seen.push(current?.metadata?.resourceVersion), {
      logger,
    });
    watcher.start();
    await until(() => seen.length === 2, 'the creation');
    await watcher.stop();
    assert.deepEqual(seen, [undefined, '11']);
    assert.equal(watcher.resource, 'hmac-key');
  });
});
