import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ApiRequestError, type ListPage, type WatchHandlers } from './raw.ts';
import { type KubeObject, type ListWatchClient, ResourceWatcher, type WatchHandler } from './watcher.ts';
import { until } from '../../test/support/until.ts';

const logger = pino({ level: 'silent' });

type Event = [type: string, object: unknown];
/** What one watch call does: send these events, then end (with an error, if given). */
interface WatchScript {
  events: Event[];
  end?: unknown;
  /** Keep the watch open (until aborted) after the events. */
  hold?: boolean;
  /** End this long after the events, not at once. */
  lastsMs?: number;
  /** The server refuses the watch: it never opens, and ends with `end`. */
  refused?: boolean;
}

/** Answers lists from `pages` and watches from `scripts`, in order, and records every call. */
class ScriptedClient implements ListWatchClient {
  readonly lists: Record<string, unknown>[] = [];
  readonly watches: Record<string, unknown>[] = [];
  readonly pages: (() => ListPage<KubeObject>)[];
  readonly scripts: WatchScript[];

  constructor(pages: (() => ListPage<KubeObject>)[], scripts: WatchScript[]) {
    this.pages = pages;
    this.scripts = scripts;
  }

  async list<T>(
    _path: string,
    query: Record<string, string | number | undefined>,
    onItem: (item: T) => void,
  ): Promise<ListPage<T>['metadata']> {
    this.lists.push(query);
    const { items, metadata } = this.pages.shift()?.() ?? { items: [], metadata: { resourceVersion: '1000' } };
    for (const item of items) onItem(item as T);
    return metadata;
  }

  watch(
    _path: string,
    query: Record<string, string | number | boolean>,
    { onOpen, onEvent, onDone }: WatchHandlers,
  ): { abort(): void } {
    this.watches.push(query);
    const script = this.scripts.shift() ?? { events: [], hold: true };
    let ended = false;
    const end = (error?: unknown): void => {
      if (!ended) onDone(error);
      ended = true;
    };
    setImmediate(() => {
      if (!script.refused) onOpen();
      for (const [type, object] of script.events) onEvent(type, object);
      if (!script.hold)
        setTimeout(() => {
          end(script.end);
        }, script.lastsMs ?? 0);
    });
    return {
      abort: () => {
        end();
      },
    };
  }
}

class RecordingHandler implements WatchHandler<KubeObject> {
  readonly objects = new Map<string, string>();
  upsert(object: KubeObject): void {
    this.objects.set(object.metadata?.name ?? '', object.metadata?.resourceVersion ?? '');
  }
  remove(object: KubeObject): void {
    this.objects.delete(object.metadata?.name ?? '');
  }
  prune(seen: ReadonlySet<string>): void {
    for (const name of this.objects.keys()) if (!seen.has(`ns/${name}`)) this.objects.delete(name);
  }
}

const object = (name: string, resourceVersion: string): KubeObject => ({
  metadata: { namespace: 'ns', name, resourceVersion },
});
const page =
  (resourceVersion: string, ...items: KubeObject[]) =>
  (): ListPage<KubeObject> => ({ items, metadata: { resourceVersion } });

function start(
  client: ListWatchClient,
  handler = new RecordingHandler(),
  relistIntervalMs = 60_000,
): { watcher: ResourceWatcher<KubeObject>; restarts: string[] } {
  const restarts: string[] = [];
  const watcher = new ResourceWatcher(
    client,
    { name: 'configmaps', path: '/api/v1/configmaps', pageSize: 2 },
    handler,
    {
      relistIntervalMs,
      onRestart: (resource) => restarts.push(resource),
      logger,
    },
  );
  watcher.start();
  return { watcher, restarts };
}

describe('ResourceWatcher', () => {
  it('lists page by page, then watches from the list resourceVersion and applies events in order', async () => {
    const client = new ScriptedClient(
      [
        () => ({ items: [object('a', '5'), object('b', '6')], metadata: { resourceVersion: '10', continue: 'next' } }),
        page('11', object('c', '7')),
      ],
      [
        {
          events: [
            ['MODIFIED', object('a', '12')],
            ['DELETED', object('b', '13')],
            ['ADDED', object('d', '14')],
          ],
          hold: true,
        },
      ],
    );
    const handler = new RecordingHandler();
    const { watcher } = start(client, handler);
    await watcher.whenSynced();
    await until(() => handler.objects.has('d'), 'the watch events');
    assert.deepEqual(client.lists, [
      { limit: 2, continue: undefined, fieldSelector: undefined },
      { limit: 2, continue: 'next', fieldSelector: undefined },
    ]);
    assert.equal(client.watches[0]?.['resourceVersion'], '11');
    assert.deepEqual(
      [...handler.objects],
      [
        ['a', '12'],
        ['c', '7'],
        ['d', '14'],
      ],
    );
    await watcher.stop();
  });

  it('by default never lists again while watches resume: each watch starts from the last resourceVersion seen', async () => {
    const bookmark = (resourceVersion: string): Event => ['BOOKMARK', { metadata: { resourceVersion } }];
    const client = new ScriptedClient(
      [page('10', object('a', '5'))],
      [
        { events: [bookmark('20')] },
        { events: [['MODIFIED', object('a', '25')]] },
        { events: [bookmark('30')] },
        { events: [], hold: true },
      ],
    );
    const handler = new RecordingHandler();
    const { watcher, restarts } = start(client, handler, 0);
    await until(() => client.watches.length === 4, 'the fourth watch');
    assert.equal(client.lists.length, 1, 'only the first list');
    assert.deepEqual(
      client.watches.map((query) => query['resourceVersion']),
      ['10', '20', '25', '30'],
    );
    assert.deepEqual([...handler.objects], [['a', '25']]);
    assert.deepEqual(restarts, []);
    await watcher.stop();
  });

  it('lists again between watches once the relist interval asked for has passed', async () => {
    const client = new ScriptedClient(
      [page('10'), page('20')],
      [
        { events: [['ADDED', object('a', '15')]], lastsMs: 20 },
        { events: [], hold: true },
      ],
    );
    const { watcher } = start(client, new RecordingHandler(), 5);
    await until(() => client.watches.length === 2, 'the second watch');
    assert.equal(client.lists.length, 2);
    assert.equal(client.watches[1]?.['resourceVersion'], '20');
    await watcher.stop();
  });

  it('relists on a 410 ERROR event and prunes what disappeared meanwhile', async () => {
    const client = new ScriptedClient(
      [page('10', object('a', '1'), object('b', '2')), page('20', object('a', '1'))],
      [{ events: [['ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }]] }],
    );
    const handler = new RecordingHandler();
    const { watcher, restarts } = start(client, handler);
    await until(() => client.watches.length === 2, 'the watch after the relist');
    assert.equal(client.lists.length, 2);
    assert.equal(client.watches[1]?.['resourceVersion'], '20');
    assert.deepEqual([...handler.objects.keys()], ['a']);
    assert.deepEqual(restarts, [], 'a relist is not a failure');
    await watcher.stop();
  });

  it('treats any other ERROR event as a failure: reported, counted, retried with backoff, resumed without a relist', async () => {
    const client = new ScriptedClient(
      [page('10', object('a', '1'))],
      [
        { events: [['ERROR', { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd leader changed' }]] },
        { events: [], hold: true },
      ],
    );
    const { watcher, restarts } = start(client);
    await until(() => restarts.length === 1, 'the failure to be counted');
    assert.match(watcher.problem ?? '', /ERROR event \(HTTP 500, InternalError\): etcd leader changed/);
    await until(() => client.watches.length === 2, 'the watch to be restarted');
    assert.equal(client.lists.length, 1, 'a non-410 error must not force a relist');
    assert.equal(client.watches[1]?.['resourceVersion'], '10');
    await until(() => watcher.problem === undefined, 'the problem to clear once watching again');
    await watcher.stop();
  });

  it('keeps reporting the problem while watches are refused, and clears it when the server accepts one', async () => {
    const unavailable = new ApiRequestError(503, 'GET /api/v1/configmaps: HTTP 503: the server is shutting down');
    const client = new ScriptedClient(
      [page('10')],
      [
        { events: [], end: unavailable, refused: true },
        // Refused again, but only after a while: the watcher is asked whether it is healthy meanwhile.
        { events: [], end: unavailable, refused: true, lastsMs: 300 },
        { events: [], hold: true },
      ],
    );
    const { watcher, restarts } = start(client);
    await until(() => client.watches.length === 2, 'the refused watch to be retried');
    assert.equal(restarts.length, 1);
    assert.match(watcher.problem ?? '', /HTTP 503/, 'a watch asked for is not a watch accepted');
    await until(() => client.watches.length === 3, 'the third watch');
    await until(() => watcher.problem === undefined, 'the problem to clear once the server accepts a watch');
    await watcher.stop();
  });

  it('backs off, doubling, while watches keep ending at once with nothing, and keeps the ERROR out of the handler', async () => {
    const handler = new RecordingHandler();
    const client = new ScriptedClient(
      [page('10')],
      [{ events: [] }, { events: [] }, { events: [['ERROR', { code: 403, reason: 'Forbidden', message: 'no' }]] }],
    );
    const started = Date.now();
    const { watcher, restarts } = start(client, handler);
    await until(() => client.watches.length === 4, 'four watch attempts');
    // 200, 400 and 800 ms backoffs, each jittered by at most half.
    assert.ok(Date.now() - started >= 700, `retried after ${Date.now() - started}ms: no backoff`);
    assert.deepEqual(restarts, ['configmaps', 'configmaps', 'configmaps']);
    assert.equal(handler.objects.size, 0);
    await watcher.stop();
  });

  it('starts the list over when its continue token expires', async () => {
    const client = new ScriptedClient(
      [
        () => ({ items: [object('a', '1')], metadata: { resourceVersion: '10', continue: 'stale' } }),
        () => {
          throw new ApiRequestError(410, 'continue token expired');
        },
        page('30', object('a', '1'), object('b', '2')),
      ],
      [],
    );
    const handler = new RecordingHandler();
    const { watcher, restarts } = start(client, handler);
    await watcher.whenSynced();
    assert.equal(client.lists.length, 3);
    assert.deepEqual(client.lists[2], { limit: 2, continue: undefined, fieldSelector: undefined });
    assert.deepEqual(restarts, []);
    await watcher.stop();
  });
});
