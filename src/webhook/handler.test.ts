import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fastJsonPatch from 'fast-json-patch';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { hasherWith } from '../../test/support/hasher.ts';
import {
  ANNOTATION,
  consumedSources,
  fingerprint,
  type SourceId,
  type SourceState,
  type StampFormat,
  type ValueHasher,
} from '../checksum/index.ts';
import { PatchesInFlight } from '../workloads/patches-in-flight.ts';
import type { SourceReader } from '../sources/reader.ts';
import { Metrics } from '../telemetry/metrics.ts';
import { AdmissionScope } from '../scope/admission-scope.ts';
import { NamespaceScope } from '../scope/namespace-scope.ts';
import { AdmissionHandler } from './handler.ts';
import type { AdmissionRequest, AdmissionResponse, WorkloadObject } from './review.ts';

const hasher = hasherWith(Buffer.alloc(32, 4));
const live = new Map<SourceId, Record<string, string>>([['configmap/app', { LEVEL: 'info' }]]);

function stateOf(id: SourceId): SourceState {
  const data = live.get(id);
  return data ? { exists: true, keys: hasher.keyDigests('configmap', { data }) } : { exists: false };
}

const liveReader: SourceReader = { read: async (_ns, sources) => new Map(sources.map((s) => [s.id, stateOf(s.id)])) };

function handler(reader: SourceReader = liveReader, metrics = new Metrics(new Registry())): AdmissionHandler {
  return new AdmissionHandler({
    reader,
    hasher,
    logger: pino({ level: 'silent' }),
    metrics,
    scope: { lookUp: (ns) => Promise.resolve(ns === 'app' ? { defaults: {} } : undefined) },
    deadlineMs: 1000,
  });
}

function deployment(container: object, templateAnnotations?: Record<string, string>): WorkloadObject {
  return {
    metadata: { name: 'web' },
    spec: {
      template: {
        metadata: templateAnnotations ? { annotations: templateAnnotations } : {},
        spec: { containers: [{ name: 'app', ...container }] },
      },
    },
  };
}

function request(object: WorkloadObject, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'u1',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    namespace: 'app',
    name: 'web',
    operation: 'CREATE',
    object,
    ...extra,
  };
}

function stampOf(
  container: object,
  format: StampFormat = hasher.currentFormat(),
  h: ValueHasher = hasher,
): Record<string, string> {
  const spec = { containers: [{ name: 'app', ...container }] };
  const stamp = fingerprint(h, format, { namespace: 'app', sources: consumedSources(spec), stateOf })?.stamp;
  return { [ANNOTATION.checksum]: stamp?.checksum ?? '', [ANNOTATION.sources]: stamp?.sources ?? '' };
}

function patchOf(response: AdmissionResponse): { op: string; path: string; value?: unknown }[] {
  return response.patch
    ? (JSON.parse(Buffer.from(response.patch, 'base64').toString()) as { op: string; path: string }[])
    : [];
}

const envFrom = (name: string, optional = false): object => ({ envFrom: [{ configMapRef: { name, optional } }] });

describe('AdmissionHandler', () => {
  it("stamps a CronJob's job template, and injects no reload agent into it", async () => {
    const cronJob = {
      metadata: { name: 'report', annotations: { 'confighash.dev/reload': 'signal:SIGHUP' } },
      spec: {
        schedule: '0 * * * *',
        jobTemplate: { spec: { template: { spec: { containers: [{ name: 'app', ...envFrom('app') }] } } } },
      },
    } as WorkloadObject;
    const response = await handler().admit(
      request(cronJob, { kind: { group: 'batch', version: 'v1', kind: 'CronJob' }, name: 'report' }),
    );
    assert.deepEqual(patchOf(response), [
      { op: 'add', path: '/spec/jobTemplate/spec/template/metadata', value: { annotations: stampOf(envFrom('app')) } },
    ]);
    const patched = fastJsonPatch.applyPatch(structuredClone(cronJob), patchOf(response) as fastJsonPatch.Operation[])
      .newDocument as { spec: { jobTemplate: { spec: { template: { spec: { initContainers?: unknown } } } } } };
    assert.equal(
      patched.spec.jobTemplate.spec.template.spec.initContainers,
      undefined,
      'no agent for pods that run to completion',
    );
    // A Job's template is immutable: confighash leaves Jobs alone.
    assert.equal(
      patchOf(await handler().admit(request(cronJob, { kind: { group: 'batch', version: 'v1', kind: 'Job' } }))).length,
      0,
    );
  });

  it('stamps a created workload in the current format', async () => {
    const response = await handler().admit(request(deployment(envFrom('app'))));
    assert.equal(response.allowed, true);
    const stamp = stampOf(envFrom('app'));
    assert.deepEqual(patchOf(response), [{ op: 'add', path: '/spec/template/metadata/annotations', value: stamp }]);
    assert.match(stamp[ANNOTATION.checksum] ?? '', /^v2:/);
  });

  it('keeps a v1 stamp that still describes the configuration: re-applying after an upgrade rolls nothing', async () => {
    const v1 = stampOf(envFrom('app'), { version: 'v1' });
    const object = deployment(envFrom('app'), v1);
    const response = await handler().admit(request(object, { operation: 'UPDATE', oldObject: object }));
    assert.deepEqual(patchOf(response), []);
  });

  it('keeps the stamp on an update that leaves the template alone, even with a change pending: no bypass of a window', async () => {
    const before = stampOf(envFrom('app'));
    live.set('configmap/app', { LEVEL: 'debug' });
    try {
      const object = { ...deployment(envFrom('app'), before), metadata: { name: 'web', annotations: { team: 'a' } } };
      assert.deepEqual(
        patchOf(
          await handler().admit(
            request(object, { operation: 'UPDATE', oldObject: deployment(envFrom('app'), before) }),
          ),
        ),
        [],
      );
    } finally {
      live.set('configmap/app', { LEVEL: 'info' });
    }
  });

  describe("the controller's own patch, in flight at this replica", () => {
    /** A reader that counts its reads and says every source changed since: any read would show. */
    function countingReader(): SourceReader & { reads: number } {
      const reader = {
        reads: 0,
        read: async (_ns: string, sources: readonly { id: SourceId }[]) => {
          reader.reads++;
          return new Map(
            sources.map((s) => [
              s.id,
              { exists: true, keys: hasher.keyDigests('configmap', { data: { LEVEL: 'changed' } }) },
            ]),
          );
        },
      };
      return reader;
    }
    const before = { [ANNOTATION.checksum]: 'v2:k:before', [ANNOTATION.sources]: 'configmap/app' };
    const stamped = stampOf(envFrom('app'));
    const old = { ...deployment(envFrom('app'), before), metadata: { name: 'web', resourceVersion: '41' } };
    const target = { kind: 'Deployment', namespace: 'app', name: 'web' };
    const guard = { resourceVersion: '41' };

    function ownHandler(reader: SourceReader, inFlight: PatchesInFlight): AdmissionHandler {
      return new AdmissionHandler({
        reader,
        hasher,
        logger: pino({ level: 'silent' }),
        metrics: new Metrics(new Registry()),
        scope: { lookUp: () => Promise.resolve({ defaults: {} }) },
        deadlineMs: 1000,
        ownPatches: inFlight,
      });
    }

    it('is admitted with its stamp as written, without reading a source', async () => {
      const reader = countingReader();
      const inFlight = new PatchesInFlight();
      const done = inFlight.begin(target, guard, stamped[ANNOTATION.checksum] ?? '');
      const response = await ownHandler(reader, inFlight).admit(
        request(deployment(envFrom('app'), stamped), { operation: 'UPDATE', oldObject: old }),
      );
      done();
      assert.equal(reader.reads, 0);
      assert.deepEqual(patchOf(response), [], 'the template keeps the stamp the controller wrote');
    });

    it('is known by its generation when it was guarded on it, whatever status writes did to the resourceVersion', async () => {
      const reader = countingReader();
      const inFlight = new PatchesInFlight();
      const done = inFlight.begin(target, { generation: 3 }, stamped[ANNOTATION.checksum] ?? '');
      const response = await ownHandler(reader, inFlight).admit(
        request(deployment(envFrom('app'), stamped), {
          operation: 'UPDATE',
          oldObject: { ...old, metadata: { name: 'web', resourceVersion: '47', generation: 3 } },
        }),
      );
      done();
      assert.equal(reader.reads, 0);
      assert.deepEqual(patchOf(response), []);
    });

    it('is read as any other once its request is over, at another resourceVersion or generation, or with more than the stamp changed', async () => {
      const checksum = stamped[ANNOTATION.checksum] ?? '';
      const over = new PatchesInFlight();
      over.begin(target, guard, checksum)();
      const under = new PatchesInFlight();
      under.begin(target, guard, checksum);
      const atGeneration = new PatchesInFlight();
      atGeneration.begin(target, { generation: 3 }, checksum);
      const cases: [string, PatchesInFlight, AdmissionRequest][] = [
        [
          'another generation',
          atGeneration,
          request(deployment(envFrom('app'), stamped), {
            operation: 'UPDATE',
            oldObject: { ...old, metadata: { name: 'web', resourceVersion: '41', generation: 4 } },
          }),
        ],
        [
          'its request is over',
          over,
          request(deployment(envFrom('app'), stamped), { operation: 'UPDATE', oldObject: old }),
        ],
        [
          'another resourceVersion',
          under,
          request(deployment(envFrom('app'), stamped), {
            operation: 'UPDATE',
            oldObject: { ...old, metadata: { name: 'web', resourceVersion: '40' } },
          }),
        ],
        [
          'the image changed too',
          under,
          request(deployment({ ...envFrom('app'), image: 'v2' }, stamped), { operation: 'UPDATE', oldObject: old }),
        ],
      ];
      for (const [why, inFlight, admitted] of cases) {
        const reader = countingReader();
        const response = await ownHandler(reader, inFlight).admit(admitted);
        assert.equal(reader.reads, 1, why);
        assert.notDeepEqual(patchOf(response), [], `${why}: the stamp is corrected from the live read`);
      }
    });
  });

  it('puts back the previous stamp when an update drops it and nothing changed (kubectl replace)', async () => {
    const stamped = deployment(envFrom('app'), stampOf(envFrom('app'), { version: 'v1' }));
    const response = await handler().admit(
      request(deployment(envFrom('app')), { operation: 'UPDATE', oldObject: stamped }),
    );
    assert.deepEqual(patchOf(response)[0]?.value, stampOf(envFrom('app'), { version: 'v1' }));
  });

  it('warns about a missing required source, and not about a missing optional one', async () => {
    const required = await handler().admit(request(deployment(envFrom('nope'))));
    assert.deepEqual(required.warnings, [
      'confighash: configmap/nope does not exist in namespace app; the workload rolls once when it appears',
    ]);
    const optional = await handler().admit(request(deployment(envFrom('nope', true))));
    assert.equal(optional.warnings, undefined);
  });

  it('leaves alone, with a warning, a stamp signed with a key it does not know', async () => {
    const other = hasherWith(randomBytes(32));
    const foreign = stampOf({ envFrom: [{ secretRef: { name: 'db' } }] }, other.currentFormat(), other);
    const object = deployment({ envFrom: [{ secretRef: { name: 'db' } }] }, foreign);
    assert.deepEqual(
      patchOf(await handler().admit(request(object, { operation: 'UPDATE', oldObject: object }))),
      [],
      'an update that is no rollout keeps the stamp',
    );
    const edited = deployment({ envFrom: [{ secretRef: { name: 'db' } }], image: 'v2' }, foreign);
    const response = await handler().admit(request(edited, { operation: 'UPDATE', oldObject: object }));
    assert.deepEqual(patchOf(response), []);
    assert.match(response.warnings?.at(-1) ?? '', /left as they are .*no longer has/);

    // Created with a stamp from elsewhere (an export of another cluster): stamped afresh.
    const created = await handler().admit(request(object));
    const ours = stampOf({ envFrom: [{ secretRef: { name: 'db' } }] });
    assert.deepEqual(patchOf(created).find((op) => op.path.endsWith('checksum'))?.value, ours[ANNOTATION.checksum]);
  });

  it('fails open, counted once as an error, when a read fails or anything else goes wrong', async () => {
    const registry = new Registry();
    const metrics = new Metrics(registry);
    const failing = handler({ read: () => Promise.reject(new Error('HTTP 403: forbidden')) }, metrics);
    const response = await failing.admit(request(deployment(envFrom('app'))));
    assert.equal(response.allowed, true);
    assert.equal(response.patch, undefined);
    assert.match(response.warnings?.[0] ?? '', /could not read configuration \(HTTP 403: forbidden\)/);

    const broken = handler(
      {
        read: async (_ns, sources) =>
          new Map(sources.map((s) => [s.id, { exists: true, keys: null } as unknown as SourceState])),
      },
      metrics,
    );
    const answer = await broken.admit(request(deployment(envFrom('app'))));
    assert.equal(answer.allowed, true);
    assert.match(answer.warnings?.[0] ?? '', /could not compute the checksum/);
    const errors = (await registry.getSingleMetric('confighash_webhook_requests_total')?.get())?.values.find(
      (v) => v.labels['result'] === 'error',
    );
    assert.equal(errors?.value, 2);
  });

  it('reads nothing, stamps nothing and says why, for a workload over the bound of sources', async () => {
    let reads = 0;
    const counting: SourceReader = {
      read: async (ns, sources) => {
        reads++;
        return liveReader.read(ns, sources);
      },
    };
    const include = Array.from({ length: 300 }, (_, i) => `configmap/c${i}`).join(',');
    const object = {
      ...deployment(envFrom('app')),
      metadata: { name: 'web', annotations: { 'confighash.dev/include': include } },
    };
    const response = await handler(counting).admit(request(object));
    assert.equal(reads, 0);
    assert.equal(response.patch, undefined);
    assert.match(
      response.warnings?.[0] ?? '',
      /consumes 301 ConfigMaps and Secrets, more than the 256 confighash tracks per workload/,
    );
  });

  it('answers within its deadline when reads hang, allowed with a warning', async () => {
    const hanging: SourceReader = {
      read: (_ns, _sources, signal) =>
        new Promise((_resolve, reject) =>
          signal?.addEventListener('abort', () => {
            reject(signal.reason as Error);
          }),
        ),
    };
    const started = Date.now();
    const response = await new AdmissionHandler({
      reader: hanging,
      hasher,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      scope: { lookUp: () => Promise.resolve({ defaults: {} }) },
      deadlineMs: 200,
    }).admit(request(deployment(envFrom('app'))));
    assert.ok(Date.now() - started < 2000);
    assert.match(response.warnings?.[0] ?? '', /could not read configuration \(not all read within 200ms\)/);
  });

  it('counts missing sources beyond five in one warning', async () => {
    const envFromMany = { envFrom: Array.from({ length: 8 }, (_, i) => ({ configMapRef: { name: `nope-${i}` } })) };
    const response = await handler().admit(request(deployment(envFromMany)));
    assert.equal(response.warnings?.length, 6);
    assert.match(response.warnings[5] ?? '', /3 more required sources do not exist/);
  });

  it('skips what is not its to mutate: namespaces out of scope (kube-system, not opted in), other kinds, subresources, ignored workloads', async () => {
    const h = handler();
    const object = deployment(envFrom('app'));
    for (const r of [
      request(object, { namespace: 'kube-system' }),
      request(object, { namespace: 'not-opted-in' }),
      request(object, { kind: { group: '', version: 'v1', kind: 'Pod' } }),
      request(object, { subResource: 'scale' }),
      request({ ...object, metadata: { name: 'web', annotations: { 'confighash.dev/ignore': 'true' } } }),
    ]) {
      assert.deepEqual(await h.admit(r), { uid: 'u1', allowed: true });
    }
  });
});

describe('AdmissionHandler facing a hostile caller or tenant', () => {
  it("reads nothing for a namespace outside its namespaceSelector, even for a workload with Reloader's annotations (the controller adopts those)", async () => {
    let reads = 0;
    const counting: SourceReader = {
      read: async (ns, sources) => {
        reads++;
        return liveReader.read(ns, sources);
      },
    };
    const namespaces = new NamespaceScope({ excluded: new Set(['kube-system']), reloaderWorkloads: true });
    const never = {
      metadata: { name: 'never-opted-in', annotations: {}, labels: { 'reloader.stakater.com/auto': 'true' } },
    };
    const scope = new AdmissionScope({
      scope: namespaces,
      read: (name) => Promise.resolve(name === never.metadata.name ? never : undefined),
      logger: pino({ level: 'silent' }),
      ratePerSecond: 1,
      burst: 1,
    });
    const admission = new AdmissionHandler({
      reader: counting,
      hasher,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      scope,
      deadlineMs: 1000,
      reloaderAnnotations: true,
    });
    const object = {
      ...deployment({ envFrom: [{ secretRef: { name: 'db' } }] }),
      metadata: { name: 'web', annotations: { 'reloader.stakater.com/auto': 'true' } },
    };
    assert.deepEqual(await admission.admit(request(object, { namespace: 'never-opted-in' })), {
      uid: 'u1',
      allowed: true,
    });
    assert.equal(reads, 0);
  });

  it('refuses, unread and with a warning, an annotation over its limit and a malformed rollout policy', async () => {
    const object = {
      ...deployment(envFrom('app')),
      metadata: {
        name: 'web',
        annotations: {
          'confighash.dev/exclude': 'configmap/x,'.repeat(1000),
          'confighash.dev/rollout-window': 'Sat 02:00-03:00;'.repeat(2000),
          'confighash.dev/min-interval': `${'9'.repeat(400)}h`,
        },
      },
    };
    const response = await handler().admit(request(object));
    assert.ok(response.patch, 'still stamped: what is refused is the annotation');
    const warnings = response.warnings ?? [];
    assert.ok(
      warnings.some((w) => /confighash\.dev\/exclude is 12000 characters, more than its 8192: ignored/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      warnings.some((w) => /rollout-window: 32000 characters, more than the 512 a schedule may have: ignored/.test(w)),
    );
    assert.ok(warnings.some((w) => /min-interval: 401 characters/.test(w)));
    assert.ok(
      warnings.every((w) => w.length < 300),
      'no warning repeats the input',
    );
  });
});

describe('AdmissionHandler with the reload strategy', () => {
  live.set('configmap/env', { LEVEL: 'info' });
  const reloading = (image: string): AdmissionHandler =>
    new AdmissionHandler({
      reader: liveReader,
      hasher,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(new Registry()),
      scope: { lookUp: () => Promise.resolve({ defaults: {} }) },
      deadlineMs: 1000,
      agentImage: image,
    });
  const workloadAnnotations = { 'confighash.dev/reload': 'signal:SIGHUP' };
  /** A Deployment reading LEVEL from configmap/env by env, and configmap/app as a file. */
  function reloadable(annotations: Record<string, string> = workloadAnnotations): WorkloadObject {
    return {
      metadata: { name: 'web', annotations },
      spec: {
        template: {
          metadata: {},
          spec: {
            securityContext: { runAsUser: 1000 },
            containers: [
              {
                name: 'app',
                env: [{ name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'env', key: 'LEVEL' } } }],
                volumeMounts: [{ name: 'config', mountPath: '/etc/app' }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'app' } }],
          },
        },
      },
    };
  }
  const admitted = async (
    h: AdmissionHandler,
    object: WorkloadObject,
    oldObject?: WorkloadObject,
  ): Promise<WorkloadObject> => {
    const response = await h.admit(request(object, oldObject ? { operation: 'UPDATE', oldObject } : {}));
    return fastJsonPatch.applyPatch(
      structuredClone(object),
      patchOf(response) as fastJsonPatch.Operation[],
      true,
      false,
    ).newDocument;
  };
  const agentImage = (w: WorkloadObject): unknown =>
    (w.spec?.template?.spec as { initContainers?: { image?: string }[] } | undefined)?.initContainers?.[0]?.image;

  it('injects the agent, and stamps only what rolls: the env key, not the reloaded file', async () => {
    const created = await admitted(reloading('image:1'), reloadable());
    assert.equal(agentImage(created), 'image:1');
    assert.match(
      created.spec?.template?.metadata?.annotations?.[ANNOTATION.sources] ?? '',
      /^configmap\/env=[0-9a-f]{12}$/,
    );
  });

  it('keeps the agent it injected when nothing else changed, even with a new agent image: an upgrade rolls nothing', async () => {
    const created = await admitted(reloading('image:1'), reloadable());
    const response = await reloading('image:2').admit(request(created, { operation: 'UPDATE', oldObject: created }));
    assert.deepEqual(patchOf(response), []);
    const replaced = await admitted(reloading('image:2'), reloadable(), created);
    assert.deepEqual(
      replaced.spec?.template,
      created.spec?.template,
      'a replace without the agent gets the same one back',
    );
  });

  it('takes the agent out when the annotation goes, and stamps every source again', async () => {
    const created = await admitted(reloading('image:1'), reloadable());
    const removed = await admitted(reloading('image:1'), { ...created, metadata: { name: 'web' } }, created);
    assert.equal(agentImage(removed), undefined);
    assert.match(
      removed.spec?.template?.metadata?.annotations?.[ANNOTATION.sources] ?? '',
      /^configmap\/app=[0-9a-f]{12},configmap\/env=/,
    );
  });
});
