import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { hasherWith } from '../../test/support/hasher.ts';
import { ANNOTATION, consumedSources, currentFingerprint, type SourceState } from '../checksum/index.ts';
import type { ListPage, WatchHandlers } from '../kube/raw.ts';
import type { ListWatchClient } from '../kube/watcher.ts';
import { ConflictError, type PatchResult, PatchRejectedError, type WorkloadRef } from '../workloads/patcher.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { NamespaceScope } from '../scope/namespace-scope.ts';
import { Controller } from './controller.ts';
import { SourceStore } from '../sources/store.ts';
import { until } from '../../test/support/until.ts';

const hasher = hasherWith(Buffer.alloc(32, 5));

/** An API server in memory for list and watch: objects per collection path, and events pushed to open watches. */
class FakeApi implements ListWatchClient {
  readonly objects = new Map<string, object[]>();
  readonly #watchers = new Map<string, (type: string, object: unknown) => void>();

  async list<T>(path: string, _query: object, onItem: (item: T) => void): Promise<ListPage<T>['metadata']> {
    for (const item of (this.objects.get(path) ?? []) as T[]) onItem(item);
    return { resourceVersion: '1' };
  }

  watch(path: string, _query: object, { onOpen, onEvent, onDone }: WatchHandlers): { abort(): void } {
    this.#watchers.set(path, onEvent);
    onOpen();
    return {
      abort: () => {
        onDone();
      },
    };
  }

  push(path: string, type: string, object: object): void {
    const send = this.#watchers.get(path);
    if (!send) throw new Error(`no watch on ${path}`);
    send(type, object);
  }

  watching(path: string): boolean {
    return this.#watchers.has(path);
  }
}

const spec = { containers: [{ name: 'app', envFrom: [{ configMapRef: { name: 'app' } }] }] };
function configMap(level: string, resourceVersion: string): object {
  return { metadata: { namespace: 'app', name: 'app', resourceVersion }, data: { LEVEL: level } };
}
function deployment(level: string): object {
  const keys = hasher.keyDigests('configmap', { data: { LEVEL: level } });
  const stateOf = (): SourceState => ({ exists: true, keys });
  const stamp = currentFingerprint(hasher, { namespace: 'app', sources: consumedSources(spec), stateOf })?.stamp;
  return {
    metadata: { namespace: 'app', name: 'web', uid: 'u', resourceVersion: '7' },
    spec: {
      template: {
        metadata: { annotations: { [ANNOTATION.checksum]: stamp?.checksum, [ANNOTATION.sources]: stamp?.sources } },
        spec,
      },
    },
  };
}

function setup(
  patch: (ref: WorkloadRef) => Promise<PatchResult | undefined>,
  events: string[] = [],
): { api: FakeApi; controller: Controller; metrics: Metrics; registry: Registry; live: { level: string } } {
  const api = new FakeApi();
  const live = { level: 'info' };
  api.objects.set('/api/v1/namespaces', [{ metadata: { name: 'app', labels: { 'confighash.dev/enabled': 'true' } } }]);
  api.objects.set('/api/v1/configmaps', [configMap('info', '2')]);
  api.objects.set('/apis/apps/v1/deployments', [deployment('info')]);
  const registry = new Registry();
  const metrics = new Metrics(registry);
  const controller = new Controller({
    listWatch: api,
    patcher: {
      patch: async (ref) => (await patch(ref)) ?? { generation: undefined },
      stamp: async (ref) => (await patch(ref)) ?? { generation: undefined },
    },
    events: { record: (_target, _type, reason) => void events.push(reason) },
    reader: {
      read: async (_ns, sources) =>
        new Map(
          sources.map((s) => [
            s.id,
            { exists: true, keys: hasher.keyDigests('configmap', { data: { LEVEL: live.level } }) },
          ]),
        ),
    },
    hasher,
    scope: new NamespaceScope({ excluded: new Set(['kube-system']) }),
    sources: new SourceStore(hasher, new Set(['kube-system'])),
    coalesceWindowMs: 0,
    waitForRollout: false,
    progressDeadlineMs: 600_000,
    rolloutRatePerSecond: 100,
    rolloutBurst: 100,
    workers: 2,
    relistIntervalMs: 600_000,
    logger: pino({ level: 'silent' }),
    metrics,
  });
  return { api, controller, metrics, registry, live };
}

async function sample(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  if (!metric) throw new Error(`no metric ${name}`);
  const value = (metric.values as { labels: Record<string, unknown>; value: number }[]).find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  if (!value) throw new Error(`no sample of ${name} with ${JSON.stringify(labels)}`);
  return value.value;
}

describe('Controller', () => {
  it('rolls nothing on start, then turns a consumed-key change into exactly one patch, retrying a conflict', async () => {
    const patched: WorkloadRef[] = [];
    let conflicts = 1;
    const { api, controller, registry, live } = setup(async (ref) => {
      if (conflicts-- > 0) throw new ConflictError('changed since read');
      patched.push(ref);
    });
    controller.start();
    const stopping = new AbortController();
    await controller.startReconciling(stopping.signal);
    await until(
      async () => (await sample(registry, 'confighash_reconcile_total', { result: 'current' })) === 1,
      'the first pass',
    );
    assert.equal(patched.length, 0, 'a restart rolls nothing');

    live.level = 'debug';
    api.push('/api/v1/configmaps', 'MODIFIED', configMap('debug', '3'));
    await until(() => patched.length === 1, 'the rollout');
    assert.equal(await sample(registry, 'confighash_reconcile_total', { result: 'conflict' }), 1);
    assert.equal(await sample(registry, 'confighash_rollouts_total'), 1);

    // A label-only change of the source (same digests) queues nothing.
    api.push('/api/v1/configmaps', 'MODIFIED', {
      ...configMap('debug', '4'),
      metadata: { namespace: 'app', name: 'app', resourceVersion: '4', labels: { a: 'b' } },
    });
    await controller.stop();
    assert.equal(patched.length, 1);
  });

  it('does not retry a patch the API server refuses for what it is, and says so in an Event', async () => {
    let attempts = 0;
    const events: string[] = [];
    const { api, controller, registry, live } = setup(async () => {
      attempts++;
      throw new PatchRejectedError('patch deployment app/web: HTTP 422: metadata.annotations: Too long');
    }, events);
    controller.start();
    await controller.startReconciling(new AbortController().signal);
    await until(
      async () => (await sample(registry, 'confighash_reconcile_total', { result: 'current' })) === 1,
      'the first pass',
    );
    live.level = 'debug';
    api.push('/api/v1/configmaps', 'MODIFIED', configMap('debug', '3'));
    await until(
      async () => (await sample(registry, 'confighash_reconcile_total', { result: 'rejected' })) === 1,
      'the refusal',
    );
    // A retry would come within 100 ms; an idle queue after the refusal means none is due.
    await until(async () => (await sample(registry, 'confighash_queue_depth')) === 0, 'an idle queue');
    await controller.stop();
    assert.equal(attempts, 1);
    assert.deepEqual(events, ['PatchRejected']);
  });

  it('counts source-triggered work in the queue-depth gauge, and forgets a deleted workload', async () => {
    const { api, controller, registry, live } = setup(async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
    });
    controller.start();
    await controller.startReconciling(new AbortController().signal);
    await until(
      async () => (await sample(registry, 'confighash_reconcile_total', { result: 'current' })) === 1,
      'the first pass',
    );
    live.level = 'debug';
    api.push('/api/v1/configmaps', 'MODIFIED', configMap('debug', '3'));
    assert.equal(await sample(registry, 'confighash_queue_depth'), 1, 'the queued workload is counted at once');
    await until(async () => (await sample(registry, 'confighash_rollouts_total')) === 1, 'the rollout');
    api.push('/apis/apps/v1/deployments', 'DELETED', deployment('debug'));
    await until(
      async () => (await sample(registry, 'confighash_reconcile_total', { result: 'gone' })) === 1,
      'the deletion to be reconciled',
    );
    await controller.stop();
  });
});
