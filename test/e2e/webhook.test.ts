// The admission webhook on the local control plane, driven with kubectl apply
// (issue: checksum engine and mutating admission webhook, acceptance 1-6).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CONFIGHASH_NAMESPACE,
  type ConfighashProcess,
  metricValue,
  namespaceManifest,
  startConfighash,
} from '../support/confighash.ts';
import { getWorkload, revisions, templateAnnotations } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlStderr, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions } from '../support/rollouts.ts';
import { configMap, secret, workload, type WorkloadKind } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const CHECKSUM = 'confighash.dev/checksum';
const SOURCES = 'confighash.dev/sources';

/** Consumes configmap/app through envFrom and key `password` of secret/db through a keyRef. */
const consumesBoth = {
  envFrom: [{ configMapRef: { name: 'app' } }],
  env: [{ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } }],
};

describe('admission webhook', () => {
  let confighash: ConfighashProcess;
  before(async () => {
    confighash = await startConfighash();
  });
  after(() => confighash.cleanup());

  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
    it(`stamps both annotations on a ${kind} applied with its sources, and it gets exactly one revision`, async (t) => {
      const ns = await testNamespace(t, ENABLED);
      await apply(
        ns,
        configMap('app', { LOG_LEVEL: 'info' }),
        secret('db', { password: 's3cret' }),
        workload(kind, 'web', consumesBoth),
      );

      const annotations = templateAnnotations(await getWorkload(ns, kind, 'web'));
      assert.match(annotations[CHECKSUM] ?? '', /^v2:[0-9a-f]{8}:[0-9a-f]{64}$/);
      assert.match(annotations[SOURCES] ?? '', /^configmap\/app=[0-9a-f]{12},secret\/db=[0-9a-f]{12}$/);
      await assertRevisionCount(ns, kind, 'web', 1);
    });
  }

  it('stamps a workload applied in one kubectl apply with its labelled Namespace, before the Namespace watch can have seen it: one revision', async (t) => {
    const names = Array.from({ length: 3 }, (_, i) => `e2e-fresh-${process.pid}-${i}`);
    t.after(() => kubectl(['delete', 'namespace', ...names, '--wait=false', '--ignore-not-found']));
    const inNamespace = (ns: string, object: object): object =>
      Object.assign(structuredClone(object), {
        metadata: { ...(object as { metadata: object }).metadata, namespace: ns },
      });
    const manifest = names.flatMap((ns) => [
      namespaceManifest(ns, ENABLED),
      inNamespace(ns, configMap('app', { LOG_LEVEL: 'info' })),
      inNamespace(ns, workload('Deployment', 'web', consumesBoth)),
    ]);
    await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: manifest }));
    for (const ns of names) {
      assert.match(templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[CHECKSUM] ?? '', /^v2:/, ns);
      assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1, ns);
      assert.equal((await getWorkload(ns, 'Deployment', 'web')).metadata.generation, 1, `${ns}: never patched`);
    }
  });

  it('stores =missing for a ConfigMap that does not exist yet, and re-applying changes nothing', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const manifest = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'later' } }] });
    const output = await kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(manifest));
    assert.match(output, /created/);
    const first = await getWorkload(ns, 'Deployment', 'web');
    assert.equal(templateAnnotations(first)[SOURCES], 'configmap/later=missing');

    assert.match(await kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(manifest)), /unchanged/);
    const second = await getWorkload(ns, 'Deployment', 'web');
    assert.equal(second.metadata.generation, first.metadata.generation);
    await assertRevisionCount(ns, 'Deployment', 'web', 1);
  });

  it('warns at apply time about a missing source', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const manifest = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'later' } }] });
    const warnings = await kubectlStderr(['apply', '-n', ns, '-f', '-'], JSON.stringify(manifest));
    assert.match(warnings, /Warning: confighash: configmap\/later does not exist/);
  });

  it('leaves alone a namespace without the label, an ignored workload, and its own namespace', async (t) => {
    const plain = await testNamespace(t);
    await apply(plain, configMap('app', { a: '1' }), workload('Deployment', 'web', consumesBoth));
    assert.deepEqual(templateAnnotations(await getWorkload(plain, 'Deployment', 'web')), {});

    const enabled = await testNamespace(t, ENABLED);
    const ignored = workload('Deployment', 'web', consumesBoth, { annotations: { 'confighash.dev/ignore': 'true' } });
    await apply(enabled, configMap('app', { a: '1' }), ignored);
    assert.deepEqual(templateAnnotations(await getWorkload(enabled, 'Deployment', 'web')), {});

    await kubectl(['label', 'namespace', CONFIGHASH_NAMESPACE, 'confighash.dev/enabled=true', '--overwrite']);
    t.after(() => kubectl(['label', 'namespace', CONFIGHASH_NAMESPACE, 'confighash.dev/enabled-']));
    await apply(CONFIGHASH_NAMESPACE, workload('Deployment', 'own', consumesBoth));
    t.after(() => kubectl(['delete', 'deployment', 'own', '-n', CONFIGHASH_NAMESPACE]));
    assert.deepEqual(templateAnnotations(await getWorkload(CONFIGHASH_NAMESPACE, 'Deployment', 'own')), {});
  });

  it('returns the mutated object on --dry-run=server and leaves nothing behind', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { a: '1' }));
    const out = await kubectl(
      ['apply', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'],
      JSON.stringify(workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] })),
    );
    const dryRun = JSON.parse(out) as Parameters<typeof templateAnnotations>[0];
    assert.match(templateAnnotations(dryRun)[SOURCES] ?? '', /^configmap\/app=[0-9a-f]{12}$/);
    await assert.rejects(kubectl(['get', 'deployment', 'web', '-n', ns]), /NotFound/);
  });

  it('writes a Secret digest that is not the SHA-256 of its value or of any key=value form', async (t) => {
    const ns = await testNamespace(t, ENABLED);
    const pin = '1234';
    const manifest = workload('Deployment', 'web', {
      env: [{ name: 'PIN', valueFrom: { secretKeyRef: { name: 'pin', key: 'pin' } } }],
    });
    await apply(ns, secret('pin', { pin }), manifest);
    const short = templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[SOURCES]?.split('=')[1] ?? '';
    assert.match(short, /^[0-9a-f]{12}$/);
    const candidates = [pin, `pin=${pin}`, `pin: ${pin}`, `pin:${pin}`, Buffer.from(pin).toString('base64')];
    for (const candidate of candidates) {
      assert.notEqual(short, createHash('sha256').update(candidate).digest('hex').slice(0, 12), candidate);
    }
    assert.equal(
      confighash.logs.some((line) => line.includes(pin) || line.includes('MTIzNA')),
      false,
    );
  });

  it('counts what it did in its metrics: a stamp patched, an ignored workload skipped', async (t) => {
    const count = (result: string): Promise<number> =>
      metricValue(confighash.metricsUrl, `confighash_webhook_requests_total{result="${result}"}`);
    const before = { patched: await count('patched'), skipped: await count('skipped') };
    const ns = await testNamespace(t, ENABLED);
    const consumer = { envFrom: [{ configMapRef: { name: 'app' } }] };
    const ignored = workload('Deployment', 'ignored', consumer, { annotations: { 'confighash.dev/ignore': 'true' } });
    await apply(ns, configMap('app', { a: '1' }), workload('Deployment', 'web', consumer), ignored);
    assert.equal(templateAnnotations(await getWorkload(ns, 'Deployment', 'ignored'))[CHECKSUM], undefined);
    // At least: other tests' namespaces may be admitted meanwhile.
    assert.ok((await count('patched')) >= before.patched + 1, 'the stamp counted');
    assert.ok((await count('skipped')) >= before.skipped + 1, 'the skip counted');
  });
});

describe('admission webhook when confighash is down', () => {
  it('still admits workloads (fails open)', async (t) => {
    const confighash = await startConfighash();
    t.after(() => confighash.cleanup());
    await confighash.stop();

    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { a: '1' }), workload('Deployment', 'web', consumesBoth));
    assert.deepEqual(templateAnnotations(await getWorkload(ns, 'Deployment', 'web')), {});
  });
});

/**
 * Waits until the workload's controller has processed its latest spec, then
 * checks the spec was written once (generation 1) and produced `count` revisions.
 */
async function assertRevisionCount(ns: string, kind: WorkloadKind, name: string, count: number): Promise<void> {
  const settled = await waitFor(`${kind} ${name} to be observed by its controller`, async () => {
    const object = await getWorkload(ns, kind, name);
    return (object.status?.observedGeneration ?? 0) >= (object.metadata.generation ?? 1) ? object : undefined;
  });
  assert.equal(settled.metadata.generation, 1);
  assert.equal((await revisions(ns, kind, name)).length, count);
}
