import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { hasherWith } from '../../test/support/hasher.ts';
import {
  ANNOTATION,
  BASELINE_ANNOTATION,
  consumedSources,
  fingerprint,
  keyId,
  reloadedVolumes,
  type SourceId,
  type SourceObject,
  type SourceState,
  type ValueHasher,
} from '../checksum/index.ts';
import type { SourceReader } from '../sources/reader.ts';
import type { AnnotationChanges } from '../workloads/generation-guarded-patch.ts';
import { ConflictError, type PatchResult, type WorkloadRef } from '../workloads/patcher.ts';
import type { Arrival } from '../kube/watcher.ts';
import { Metrics } from '../telemetry/metrics.ts';
import type { Notice } from '../notify/notice.ts';
import { until } from '../../test/support/until.ts';
import { NamespaceScope } from '../scope/namespace-scope.ts';
import { Reconciler } from './reconciler.ts';
import { SourceStore } from '../sources/store.ts';
import { type WorkloadObject, WorkloadStore } from './workload-store.ts';

const VALUE_KEY = Buffer.alloc(32, 9);
const KEY = 'Deployment/app/web';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** `annotations` with `patch` merged in, as a merge patch does: null removes. */
function merged(
  annotations: Record<string, string> | null | undefined,
  patch: Record<string, string | null> | undefined,
): Record<string, string> {
  return Object.fromEntries(
    Object.entries({ ...annotations, ...patch }).filter((entry): entry is [string, string] => entry[1] !== null),
  );
}

interface Patch {
  metadata?: { annotations?: Record<string, string | null> };
  spec?: { template: { metadata: { annotations: Record<string, string | null> } } };
}

/**
 * One workload `app/web` and its sources, with two views of the sources: what the
 * controller's stores have seen (`store`) and what the API server has now (`live`),
 * so that tests can put the stores behind the API server, as watch delivery can.
 */
class Fixture {
  readonly hasher: ValueHasher;
  readonly workloads = new WorkloadStore();
  readonly scope = new NamespaceScope({ excluded: new Set(['kube-system']) });
  readonly store: SourceStore;
  readonly live = new Map<SourceId, SourceObject>();
  /** The resourceVersion of each live source: the stores see the same when its event arrives. */
  readonly liveVersions = new Map<SourceId, string>();
  readonly patches: Patch[] = [];
  readonly events: { type: string; reason: string; message: string }[] = [];
  readonly reads: string[] = [];
  readonly metrics = new Metrics(new Registry());
  /** The next patch is applied, and then its answer is lost (a timeout). */
  loseNextAnswer = false;
  /** Another writer patches first (with this patch, as the webhook or another replica would), and the next patch conflicts. */
  preemptNext: Patch | undefined;
  /** Reloads handed to the tracker: the reloaded sources' summary before and now. */
  readonly followed: { before: string | undefined; now: string }[] = [];
  readonly notices: Notice[] = [];
  readonly reconciler: Reconciler;
  /** Milliseconds until the next rollout token; 0: one is there. */
  tokenDueInMs = 0;
  /** Tokens taken and not given back: the rollouts the rate limit counted. */
  tokensTaken = 0;
  #version = 1;
  #workload: WorkloadObject = {};

  constructor(hasher: ValueHasher = hasherWith(VALUE_KEY)) {
    this.hasher = hasher;
    this.store = new SourceStore(hasher, new Set());
    this.scope.handler().upsert({ metadata: { name: 'app', labels: { 'confighash.dev/enabled': 'true' } } });
    const reader: SourceReader = {
      read: async (namespace, sources) => {
        this.reads.push(namespace);
        return new Map(
          sources.map((s): [SourceId, SourceState] => {
            const object = this.live.get(s.id);
            return [
              s.id,
              object
                ? {
                    exists: true,
                    keys: hasher.keyDigests(s.kind, object),
                    resourceVersion: this.liveVersions.get(s.id) ?? '',
                  }
                : { exists: false },
            ];
          }),
        );
      },
    };
    this.reconciler = new Reconciler({
      workloads: this.workloads,
      sources: this.store,
      scope: this.scope,
      hasher,
      reader,
      patcher: {
        patch: async (ref: WorkloadRef, patch: object) => this.#applyPatch(ref, patch),
        stamp: async (ref: WorkloadRef, changes: AnnotationChanges) =>
          this.#applyPatch(ref, {
            metadata: { annotations: changes.workload },
            spec: { template: { metadata: { annotations: changes.template } } },
          }),
      },
      events: { record: (_target, type, reason, message) => void this.events.push({ type, reason, message }) },
      limiter: {
        take: () => {
          if (this.tokenDueInMs === 0) this.tokensTaken++;
          return this.tokenDueInMs;
        },
        giveBack: () => {
          this.tokensTaken--;
        },
      },
      reloads: {
        track: (_record, stamp, before) => void this.followed.push({ before, now: stamp.sources }),
        forget: () => undefined,
      },
      coalesceWindowMs: 0,
      notices: { publish: (notice) => void this.notices.push(notice) },
      missingNoticeGraceMs: 20,
      logger: pino({ level: 'silent' }),
      metrics: this.metrics,
    });
  }

  /** The source as both the API server and the stores have it. */
  source(id: SourceId, data: Record<string, string> | undefined): void {
    this.sourceLive(id, data);
    this.sourceSeen(id);
  }

  /** Changes the source at the API server only: its watch event has not arrived. */
  sourceLive(id: SourceId, data: Record<string, string> | undefined): void {
    if (data)
      this.live.set(id, {
        data: id.startsWith('secret/') ? Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) : data,
      });
    else this.live.delete(id);
    this.liveVersions.set(id, String(this.#version++));
  }

  /** The stores receive the source's watch event (`added`: its creation). */
  sourceSeen(id: SourceId, arrival?: Arrival): void {
    const [kind, name] = id.split('/') as ['configmap' | 'secret', string];
    const object = this.live.get(id);
    const metadata = { namespace: 'app', name, resourceVersion: this.liveVersions.get(id) ?? '' };
    if (object) this.store.handler(kind).upsert({ ...object, metadata }, arrival);
    else this.store.handler(kind).remove({ metadata });
  }

  workload(
    container: object,
    templateAnnotations: Record<string, string> = {},
    annotations: Record<string, string> = {},
    pod: object = {},
  ): void {
    this.#workload = {
      metadata: {
        namespace: 'app',
        name: 'web',
        uid: 'u1',
        annotations,
        generation: (this.#workload.metadata?.generation ?? 0) + 1,
      },
      spec: {
        template: {
          metadata: { annotations: templateAnnotations },
          spec: { containers: [{ name: 'app', ...container }], ...pod },
        },
      },
    };
    this.#storeWorkload();
  }

  /** The workload created unstamped, the stores seeing its creation on their watch. */
  workloadCreated(container: object): void {
    this.#workload = {
      metadata: { namespace: 'app', name: 'web', uid: 'u1', generation: 1 },
      spec: { template: { spec: { containers: [{ name: 'app', ...container }] } } },
    };
    this.#storeWorkload('added');
  }

  /** Metadata annotations of the workload as patched. */
  annotations(): Record<string, string> {
    return this.#workload.metadata?.annotations ?? {};
  }

  /** The stamp the webhook would write now, from live reads, in `format` (default: current). */
  webhookStamp(format = this.hasher.currentFormat()): Record<string, string> {
    const spec = this.#workload.spec?.template?.spec ?? {};
    const annotations = this.#workload.metadata?.annotations ?? {};
    const subject = {
      namespace: 'app',
      sources: consumedSources(spec, annotations, reloadedVolumes(spec, annotations)),
      stateOf: (id: SourceId): SourceState => {
        const object = this.live.get(id);
        return object
          ? { exists: true, keys: this.hasher.keyDigests(id.startsWith('secret/') ? 'secret' : 'configmap', object) }
          : { exists: false };
      },
    };
    const stamp = fingerprint(this.hasher, format, subject)?.stamp;
    return stamp ? { [ANNOTATION.checksum]: stamp.checksum ?? '', [ANNOTATION.sources]: stamp.sources } : {};
  }

  /** The workload, stamped as the webhook would stamp it now (in `format`, default the current one). */
  stamped(container: object, format = this.hasher.currentFormat()): void {
    this.workload(container);
    this.workload(container, this.webhookStamp(format));
  }

  templateAnnotations(): Record<string, string> {
    return this.#workload.spec?.template?.metadata?.annotations ?? {};
  }

  rollouts(): number {
    return this.patches.filter((p) => p.spec).length;
  }

  reconcile(): Promise<{ result: string }> {
    return this.reconciler.reconcile(KEY);
  }

  async #applyPatch(_ref: WorkloadRef, patch: Patch): Promise<PatchResult> {
    const preempt = this.preemptNext;
    if (preempt) {
      this.preemptNext = undefined;
      this.#apply(preempt);
      throw new ConflictError('patch deployment app/web: it changed since it was read');
    }
    this.#apply(patch);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new DOMException('no answer within 10000ms', 'TimeoutError');
    }
    return { generation: this.#workload.metadata?.generation };
  }

  #apply(patch: Patch): void {
    this.patches.push(patch);
    const metadata = this.#workload.metadata ?? {};
    metadata.annotations = merged(metadata.annotations, patch.metadata?.annotations);
    const template = this.#workload.spec?.template;
    if (patch.spec && template) {
      template.metadata = {
        annotations: merged(template.metadata?.annotations, patch.spec.template.metadata.annotations),
      };
      metadata.generation = (metadata.generation ?? 0) + 1;
    }
    this.#storeWorkload();
  }

  #storeWorkload(arrival?: Arrival): void {
    this.#workload.metadata = { ...this.#workload.metadata, resourceVersion: String(this.#version++) };
    this.workloads.handler('Deployment').upsert(structuredClone(this.#workload), arrival);
  }
}

const envFrom = (name: string, optional = false): object => ({ envFrom: [{ configMapRef: { name, optional } }] });

describe('Reconciler', () => {
  let f: Fixture;
  beforeEach(() => {
    f = new Fixture();
  });

  it('is current when the template stamp describes the sources, and rolls once when a consumed value changes', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    assert.equal((await f.reconcile()).result, 'current');

    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.deepEqual(f.templateAnnotations(), f.webhookStamp());
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.rollouts(), 1);
    assert.match(
      f.events[0]?.message ?? '',
      /^Rolling out: configuration changed: configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LEVEL\)$/,
      'the changed key named, never its value',
    );
  });

  it('waits for the rate limit without reading the sources live, and reads them once a token is there', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    f.tokenDueInMs = 100;
    const reads = f.reads.length;
    for (let i = 0; i < 3; i++) assert.equal((await f.reconcile()).result, 'deferred');
    assert.equal(f.reads.length, reads, 'no live read while the limit holds the rollout back');
    f.tokenDueInMs = 0;
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.reads.length, reads + 1);
    assert.equal(f.tokensTaken, 1);
  });

  it('gives its rate-limit token back when nothing rolls', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    // The stores see a change that the API server has already undone: no rollout.
    f.source('configmap/app', { LEVEL: 'debug' });
    f.sourceLive('configmap/app', { LEVEL: 'info' });
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.tokensTaken, 0);
    f.preemptNext = {};
    f.sourceLive('configmap/app', { LEVEL: 'trace' });
    await assert.rejects(f.reconcile(), /changed since it was read/);
    assert.equal(f.tokensTaken, 0, 'a conflict rolled nothing');
  });

  it('publishes a rollout.started notice with the changed keys and digests, tied to the rollout it records', async () => {
    f.source('configmap/app', { LEVEL: 'info', OTHER: 'x' });
    f.stamped(envFrom('app'));
    const before = f.templateAnnotations()[ANNOTATION.checksum];
    f.source('configmap/app', { LEVEL: 'debug', OTHER: 'x' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.notices.length, 1);
    const notice = f.notices[0];
    assert.ok(notice);
    assert.equal(notice.type, 'rollout.started');
    assert.equal(notice.checksum, f.templateAnnotations()[ANNOTATION.checksum]);
    assert.equal(notice.previousChecksum, before);
    assert.deepEqual(
      notice.changes?.map((c) => [c.source, c.keys]),
      [['configmap/app', ['LEVEL']]],
    );
    assert.equal(notice.trigger, 'configuration-change');
    // Built from what the workload records: another replica would give it the same id.
    const [checksum, startedAt] = (f.annotations()['confighash.dev/rollout'] ?? '').split(' ');
    assert.equal(checksum, notice.checksum);
    assert.ok(startedAt);
    assert.ok(!JSON.stringify(notice).includes('debug'), 'no value');
  });

  it('tells a missing required source only if it is still missing, and its workload still there, after a grace period', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', undefined);
    await f.reconcile();
    await until(() => f.notices.length === 1, 'the source.missing notice');
    assert.deepEqual(f.notices[0]?.missing, [{ source: 'configmap/app', state: 'deleted' }]);

    // helm uninstall: the source and then the workload are deleted.
    const g = new Fixture();
    g.source('configmap/app', { LEVEL: 'info' });
    g.stamped(envFrom('app'));
    g.source('configmap/app', undefined);
    await g.reconcile();
    g.reconciler.forget(KEY);
    // Back within the grace period: nothing to tell either.
    const h = new Fixture();
    h.source('configmap/app', { LEVEL: 'info' });
    h.stamped(envFrom('app'));
    h.source('configmap/app', undefined);
    await h.reconcile();
    h.source('configmap/app', { LEVEL: 'info' });
    await h.reconcile();
    // A third, still missing, published after the same grace: by then the other two would have been too.
    const control = new Fixture();
    control.source('configmap/app', { LEVEL: 'info' });
    control.stamped(envFrom('app'));
    control.source('configmap/app', undefined);
    await control.reconcile();
    await until(() => control.notices.length === 1, "the control's notice");
    assert.deepEqual([g.notices.length, h.notices.length], [0, 0]);
  });

  it('never moves a stamp backwards when the workload event arrives before the source event', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    // The user applies a ConfigMap change and then the Deployment; the webhook stamps
    // the new configuration, and the workload's watch event comes first.
    f.sourceLive('configmap/app', { LEVEL: 'debug' });
    f.stamped(envFrom('app'));
    const fresh = f.templateAnnotations();
    assert.equal((await f.reconcile()).result, 'current');
    assert.deepEqual(f.templateAnnotations(), fresh);
    f.sourceSeen('configmap/app');
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.rollouts(), 0);
    assert.deepEqual(f.events, [], 'no false ConfigChanged');
  });

  it('confirms with live reads, and stamps what it read when the API server is ahead of the stores', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    f.sourceLive('configmap/app', { LEVEL: 'trace' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.deepEqual(f.templateAnnotations(), f.webhookStamp(), "the live configuration, not the stores'");
    assert.equal(f.reads.length, 1);
  });

  it('rolls from the stores, reading nothing, once they hold every source at or after the versions its own last stamp was read at', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.reads.length, 1, "the webhook's stamp: read live");
    f.source('configmap/app', { LEVEL: 'trace' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.deepEqual(f.templateAnnotations(), f.webhookStamp());
    assert.equal(f.reads.length, 1, 'its own stamp, and the stores past it: no read');
    assert.equal(f.rollouts(), 2);
  });

  it('reads live when the stores are behind the versions its own last stamp was read at, and rolls nothing back', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    f.sourceLive('configmap/app', { LEVEL: 'trace' });
    assert.equal((await f.reconcile()).result, 'rolled');
    const stamp = f.templateAnnotations();
    // The stores still hold debug, older than the trace the stamp was read from.
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.reads.length, 2);
    assert.deepEqual(f.templateAnnotations(), stamp);
    assert.equal(f.rollouts(), 1);
  });

  it("reads live when the workload's spec changed since its own stamp", async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    // The user applies the Deployment again (a new generation); the webhook stamps it.
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'trace' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.reads.length, 2);
  });

  it('does not roll when a required source is deleted, and rolls once when it comes back different', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', undefined);
    assert.equal((await f.reconcile()).result, 'missing-source');
    assert.equal((await f.reconcile()).result, 'missing-source');
    assert.equal(f.rollouts(), 0);
    assert.deepEqual(
      f.events.map((e) => [e.type, e.reason]),
      [['Warning', 'MissingSource']],
      'one Warning per disappearance',
    );
    assert.match(f.events[0]?.message ?? '', /was deleted: the workload is not rolled/);

    f.source('configmap/app', { LEVEL: 'info' });
    assert.equal((await f.reconcile()).result, 'current', 'back with the same content: nothing to roll');
    f.source('configmap/app', undefined);
    await f.reconcile();
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.rollouts(), 1);
  });

  it('rolls when an optional source disappears, without a Warning for it', async () => {
    f.source('configmap/flags', { A: '1' });
    f.stamped(envFrom('flags', true));
    f.source('configmap/flags', undefined);
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.events.filter((e) => e.type === 'Warning').length, 0);
  });

  it('rolls once when a source that never existed is created', async () => {
    f.stamped(envFrom('app'));
    assert.equal((await f.reconcile()).result, 'current');
    assert.match(f.events[0]?.message ?? '', /does not exist; its digest is "missing"/);
    f.source('configmap/app', { LEVEL: 'info' });
    assert.equal((await f.reconcile()).result, 'rolled');
  });

  it('keeps a v1 stamp of the first release while it is current, and writes v2 on the next change', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'), { version: 'v1' });
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.patches.length, 0, 'an upgrade rolls nothing');
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.match(f.templateAnnotations()[ANNOTATION.checksum] ?? '', /^v2:/);
    assert.match(f.events[0]?.message ?? '', /configmap\/app \(/);
  });

  it("verifies an old key's stamps after a rotation, and signs new ones with the new key", async () => {
    f.source('secret/db', { pin: '1234' });
    f.stamped({ envFrom: [{ secretRef: { name: 'db' } }] });
    const next = randomBytes(32);
    f.hasher.keyring.update({ valueKey: VALUE_KEY, keys: [next], signingId: keyId(next) });
    assert.equal((await f.reconcile()).result, 'current');
    f.source('secret/db', { pin: '4321' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(f.templateAnnotations()[ANNOTATION.checksum]?.split(':')[1], f.hasher.keyring.signingId);
  });

  it('adopts an unstamped workload with a baseline, rolls nothing, and rolls once on the next change', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.workload(envFrom('app'));
    assert.equal((await f.reconcile()).result, 'adopted');
    assert.equal(f.rollouts(), 0);
    assert.equal((await f.reconcile()).result, 'current');
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal(
      f.patches.at(-1)?.metadata?.annotations?.[BASELINE_ANNOTATION],
      null,
      'the rollout clears the baseline',
    );
  });

  it('adopts a workload whose source changed after its creation with the source as it was then, and rolls it once', async () => {
    f.sourceLive('configmap/app', { LEVEL: 'info' });
    f.sourceSeen('configmap/app', 'added');
    f.workloadCreated(envFrom('app'));
    // The change lands, and the stores see it, before the controller gets to the workload.
    f.source('configmap/app', { LEVEL: 'debug' });
    assert.equal((await f.reconcile()).result, 'adopted');
    assert.equal(f.rollouts(), 0);
    assert.equal((await f.reconcile()).result, 'rolled');
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.rollouts(), 1);
    assert.match(
      f.events.find((e) => e.reason === 'ConfigChanged')?.message ?? '',
      /configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LEVEL\)/,
      'from what the pods read to what the source holds',
    );
  });

  it('does not adopt while its stores lack a source that exists, and then rolls nothing for it', async () => {
    f.workloadCreated(envFrom('app'));
    f.sourceLive('configmap/app', { LEVEL: 'info' });
    assert.equal((await f.reconcile()).result, 'skipped', "the source's watch event has not arrived");
    f.sourceSeen('configmap/app', 'added');
    assert.equal((await f.reconcile()).result, 'adopted');
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.rollouts(), 0);
  });

  it('reads the baseline the first release wrote (a v1 sources summary alone)', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.workload(envFrom('app'));
    const v1 = f.webhookStamp({ version: 'v1' });
    f.workload(envFrom('app'), {}, { [BASELINE_ANNOTATION]: v1[ANNOTATION.sources] ?? '' });
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.patches.length, 0);
  });

  it('adopts anew, rolling nothing, a workload stamped with a key the installation does not have', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    const foreign = new Fixture(hasherWith(randomBytes(32), randomBytes(32)));
    foreign.source('secret/db', { pin: '1' });
    foreign.workload({ envFrom: [{ secretRef: { name: 'db' } }] });
    f.source('secret/db', { pin: '1' });
    f.workload({ envFrom: [{ secretRef: { name: 'db' } }] }, foreign.webhookStamp());
    assert.ok(foreign.webhookStamp()[ANNOTATION.checksum]);
    assert.equal((await f.reconcile()).result, 'adopted');
    assert.equal(f.rollouts(), 0);
    assert.equal((await f.reconcile()).result, 'current');
    assert.ok(
      f.patches[0]?.metadata?.annotations?.[BASELINE_ANNOTATION]?.startsWith(`v2:${f.hasher.keyring.signingId}:`),
    );
  });

  it('reports every required source found missing in one Event, listing ten, once', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
    f.stamped({ envFrom: names.map((name) => ({ configMapRef: { name } })) });
    await f.reconcile();
    await f.reconcile();
    assert.equal(f.events.length, 1, 'one Event for thirty sources, and none on the next reconcile');
    assert.match(
      f.events[0]?.message ?? '',
      /^configmap\/cm-00, .*configmap\/cm-09 and 20 more do not exist; their digests are "missing"/,
    );
  });

  it('says a source whose name no object can have is not a valid name', async () => {
    f.stamped(envFrom('..'));
    await f.reconcile();
    assert.match(f.events[0]?.message ?? '', /^configmap\/\.\. is not a valid name for a ConfigMap or Secret/);
  });

  it('does not track a workload consuming more sources than the bound: no reads, no patch, one Warning', async () => {
    const include = Array.from({ length: 300 }, (_, i) => `configmap/c${i}`).join(',');
    f.workload(envFrom('app'), {}, { [ANNOTATION.include]: include });
    assert.equal((await f.reconcile()).result, 'skipped');
    assert.equal((await f.reconcile()).result, 'skipped');
    assert.deepEqual([f.reads.length, f.patches.length], [0, 0]);
    assert.deepEqual(
      f.events.map((e) => e.reason),
      ['TooManySources'],
    );
    assert.match(f.events[0]?.message ?? '', /consumes 301 ConfigMaps and Secrets, more than the 256/);
    assert.equal(f.workloads.consumersOf('app', 'configmap/c1').size, 0, 'nothing indexed');
  });

  it('records a rollout whose patch was applied though its answer was lost', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    f.loseNextAnswer = true;
    await assert.rejects(f.reconcile(), /no answer/);
    assert.equal(f.events.length, 0);
    assert.equal((await f.reconcile()).result, 'current', 'the retry finds the stamp in place');
    assert.deepEqual(
      f.events.map((e) => e.reason),
      ['ConfigChanged'],
    );
    assert.match(f.events[0]?.message ?? '', /configmap\/app \([0-9a-f]{12} → [0-9a-f]{12}: keys LEVEL\)/);
    assert.equal(f.rollouts(), 1);
    assert.equal((await f.reconcile()).result, 'current');
    assert.equal(f.events.length, 1, 'recorded once');
  });

  it('does not record as its own a rollout another writer made while its patch was refused', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.source('configmap/app', { LEVEL: 'debug' });
    // Another replica rolls the same change first, with its own start time.
    f.preemptNext = {
      metadata: {
        annotations: {
          'confighash.dev/rollout': `${f.webhookStamp()[ANNOTATION.checksum] ?? ''} 2026-12-01T10:00:00.000Z`,
        },
      },
      spec: { template: { metadata: { annotations: f.webhookStamp() } } },
    };
    await assert.rejects(f.reconcile(), ConflictError);
    assert.equal((await f.reconcile()).result, 'current');
    assert.deepEqual([f.events.length, f.notices.length], [0, 0], 'the other writer tells its rollout, not this one');
  });

  describe('with the reload strategy', () => {
    const reload = { 'confighash.dev/reload': 'signal:SIGHUP' };
    const container = {
      env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'env', key: 'LEVEL' } } }],
      volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
    };
    const pod = {
      initContainers: [{ name: 'confighash-agent' }],
      volumes: [{ name: 'config', configMap: { name: 'app' } }],
    };
    /** The workload with its agent, stamped by the webhook, and seen once (its reload mark recorded). */
    async function reloading(): Promise<void> {
      f.source('configmap/env', { LEVEL: 'info' });
      f.source('configmap/app', { 'app.conf': 'a' });
      f.workload(container, {}, reload, pod);
      f.workload(container, f.webhookStamp(), reload, pod);
      assert.equal((await f.reconcile()).result, 'current');
      assert.match(
        f.annotations()['confighash.dev/reloaded'] ?? '',
        /^v2:\S+ configmap\/app=[0-9a-f]{12}$/,
        'first seen, the mark is recorded',
      );
      f.patches.length = 0;
    }

    it('does not roll for a change of a reloaded file: it follows the reload to the agents', async () => {
      await reloading();
      f.source('configmap/app', { 'app.conf': 'b' });
      assert.equal((await f.reconcile()).result, 'current');
      assert.equal(f.rollouts(), 0);
      assert.equal(f.followed.length, 1);
      assert.match(f.followed[0]?.now ?? '', /^configmap\/app=/);
      assert.notEqual(f.followed[0]?.now, f.followed[0]?.before);
    });

    it('rolls once for an env key, and marks the reloaded files as delivered by the rollout; a change of both rolls once', async () => {
      await reloading();
      f.source('configmap/env', { LEVEL: 'debug' });
      f.source('configmap/app', { 'app.conf': 'b' });
      assert.equal((await f.reconcile()).result, 'rolled');
      assert.equal((await f.reconcile()).result, 'current');
      assert.equal(f.rollouts(), 1);
      assert.deepEqual(f.followed, [], 'the rollout delivers the files; nothing to reload');
      assert.match(
        f.templateAnnotations()[ANNOTATION.sources] ?? '',
        /^configmap\/env=[0-9a-f]{12}$/,
        'only what rolls is stamped',
      );
    });
  });

  it('forgets a deleted workload', async () => {
    f.source('configmap/app', { LEVEL: 'info' });
    f.stamped(envFrom('app'));
    f.workloads.handler('Deployment').remove({ metadata: { namespace: 'app', name: 'web' } });
    assert.equal((await f.reconcile()).result, 'gone');
  });
});
