// Inputs any tenant who can create a Deployment can send, on the local control
// plane: names no object can have, thousands of sources, stamps that would outgrow
// the annotation limit, thousands of missing sources, and reviews sent straight to
// the webhook port. None of them may cost more than a bounded amount of work, make
// a valid object invalid, or reach beyond an opted-in namespace.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricValue, startConfighashForTest } from '../support/confighash.ts';
import { post, publishedCaBundle } from '../support/https.ts';
import { eventsOf, getWorkload, templateAnnotations, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, kubectlStderr, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions } from '../support/rollouts.ts';
import { configMap, secret, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const SOURCES = 'confighash.dev/sources';
const CHECKSUM = 'confighash.dev/checksum';

const review = (namespace: string, object: object): string =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      namespace,
      name: 'web',
      operation: 'CREATE',
      object,
    },
  });

describe('hostile inputs', () => {
  it('records names no object can have (`.`, `..`) as missing and never reads them; webhook and controller agree', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, secret('db', { pin: '1234' }), secret('other', { a: 'b' }), configMap('app', { a: '1' }));
    // The API server refuses such names in env references, not in volumes.
    const manifest = workload(
      'Deployment',
      'web',
      {
        volumeMounts: [
          { name: 'a', mountPath: '/a' },
          { name: 'b', mountPath: '/b' },
        ],
      },
      {
        volumes: [
          { name: 'a', secret: { secretName: '.' } },
          { name: 'b', configMap: { name: '..' } },
        ],
      },
    );
    const warnings = await kubectlStderr(['apply', '-n', ns, '-f', '-'], JSON.stringify(manifest));
    assert.match(warnings, /secret\/\. is not a valid name for a ConfigMap or Secret/);
    assert.equal(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[SOURCES],
      'configmap/..=missing,secret/.=missing',
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await confighash.stop();
    const next = await startConfighashForTest(t);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', next.metricsUrl), 1, 'a restart rolled it');
    assert.deepEqual(await eventsOf(ns, 'ConfigChanged'), [], 'no rollout recorded for a rollout that never happened');
    const [missing] = await waitForEvents(ns, 'MissingSource');
    assert.match(missing?.message ?? '', /configmap\/\.\., secret\/\. are not valid names/);
  });

  it('does not read or stamp a workload with 10,000 sources, answers in time, and keeps the apply valid', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    // References in the pod spec: an include list that long is refused by its own bound (below).
    const envFrom = Array.from({ length: 10_000 }, (_, i) => ({ configMapRef: { name: `c${i}`, optional: true } }));
    const include = Array.from({ length: 10_000 }, (_, i) => `configmap/i${i}`).join(',');
    const manifest = workload('Deployment', 'web', { envFrom }, { annotations: { 'confighash.dev/include': include } });
    const before = await metricValue(confighash.metricsUrl, 'confighash_webhook_requests_total{result="skipped"}');
    // create, not apply: apply's last-applied-configuration would hold the spec twice.
    const warnings = await kubectlStderr(['create', '-n', ns, '-f', '-'], JSON.stringify(manifest));
    assert.match(warnings, /consumes 10000 ConfigMaps and Secrets, more than the 256 confighash tracks per workload/);
    assert.match(warnings, /confighash\.dev\/include is \d+ characters, more than its 8192: ignored/);
    assert.ok(
      (await metricValue(confighash.metricsUrl, 'confighash_webhook_requests_total{result="skipped"}')) > before,
      'answered, not timed out',
    );
    assert.equal(templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[CHECKSUM], undefined);
    const [event] = await waitForEvents(ns, 'TooManySources');
    assert.match(event?.message ?? '', /not stamped or rolled/);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
    assert.equal(await metricValue(confighash.metricsUrl, 'confighash_reconcile_total{result="error"}'), 0);
  });

  it('keeps the stamp within its bound for 250 long source names: the summary is cut short, the checksum covers all', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=0']);
    const ns = await testNamespace(t, ENABLED);
    const names = Array.from({ length: 250 }, (_, i) => `${'n'.repeat(240)}-${String(i).padStart(3, '0')}`);
    const last = names.at(-1) ?? '';
    await apply(ns, configMap(last, { a: '1' }));
    const envFrom = names.map((name) => ({ configMapRef: { name, optional: true } }));
    await apply(ns, workload('Deployment', 'web', { envFrom }));
    const stamp = templateAnnotations(await getWorkload(ns, 'Deployment', 'web'));
    assert.ok((stamp[SOURCES] ?? '').length <= 4096, `sources annotation of ${stamp[SOURCES]?.length ?? 0} characters`);
    assert.match(stamp[SOURCES] ?? '', /,\+\d+ more$/);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    // The last source is beyond the summary, yet its change rolls the workload, once.
    await kubectl(['patch', 'configmap', last, '-n', ns, '--type=merge', '-p', '{"data":{"a":"2"}}']);
    await waitFor(
      'the rollout',
      async () =>
        templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[CHECKSUM] !== stamp[CHECKSUM] || undefined,
    );
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    const [changed] = await waitForEvents(ns, 'ConfigChanged');
    assert.match(changed?.message ?? '', /sources the sources annotation does not list/);
  });

  it('reports 200 missing sources of a workload in one Event, and a restart adds to its count, not to the Events', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    const envFrom = Array.from({ length: 200 }, (_, i) => ({ configMapRef: { name: `absent-${i}` } }));
    await apply(ns, workload('Deployment', 'web', { envFrom }));
    const [first] = await waitForEvents(ns, 'MissingSource');
    assert.match(first?.message ?? '', /and 190 more do not exist/);
    await confighash.stop();
    const next = await startConfighashForTest(t);
    await waitFor(
      'the Event counted again',
      async () => ((await eventsOf(ns, 'MissingSource'))[0]?.count ?? 0) >= 2 || undefined,
    );
    assert.equal((await eventsOf(ns, 'MissingSource')).length, 1);
    assert.equal(await metricValue(next.metricsUrl, 'confighash_events_total{result="updated"}'), 1);
  });

  it('answers a review sent straight to its port only for opted-in namespaces', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ca = await publishedCaBundle();
    const [closed, open] = [await testNamespace(t), await testNamespace(t, ENABLED)];
    for (const ns of [closed, open]) await apply(ns, secret('db', { pin: '1234' }));
    const object = {
      metadata: { name: 'web' },
      spec: { template: { spec: { containers: [{ name: 'a', envFrom: [{ secretRef: { name: 'db' } }] }] } } },
    };
    const outside = JSON.parse((await post(confighash.webhookUrl, ca, review(closed, object))).body) as {
      response: object;
    };
    assert.deepEqual(
      outside.response,
      { uid: 'u', allowed: true },
      'nothing learnt of a namespace that did not opt in',
    );
    const inside = JSON.parse((await post(confighash.webhookUrl, ca, review(open, object))).body) as {
      response: { patch?: string };
    };
    assert.ok(inside.response.patch, 'an opted-in namespace is answered (what remains is in the docs)');
  });
});
