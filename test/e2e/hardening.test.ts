// Defects found by review and fault injection, each shown on the local control
// plane: a digest is no cross-namespace oracle, a deleted source does not roll
// into broken pods, confighash's own Secrets repair themselves, rotating the key
// rolls nothing, and readiness means "the webhook can serve".
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIGHASH_NAMESPACE, confighashCli, metricValue, startConfighashForTest } from '../support/confighash.ts';
import { restartApiserver } from '../support/control-plane.ts';
import { eventsOf, getWorkload, templateAnnotations, waitForEvents } from '../support/kube-objects.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import { settledRevisions, waitForRevisions } from '../support/rollouts.ts';
import { configMap, secret, workload } from '../support/workloads.ts';

const ENABLED = { 'confighash.dev/enabled': 'true' };
const SOURCES = 'confighash.dev/sources';
const CHECKSUM = 'confighash.dev/checksum';

async function secretData(name: string): Promise<string> {
  return kubectl(['get', 'secret', name, '-n', CONFIGHASH_NAMESPACE, '-o', 'jsonpath={.data}']);
}

const USES_DB = workload('Deployment', 'web', {
  env: [{ name: 'PIN', valueFrom: { secretKeyRef: { name: 'db', key: 'pin' } } }],
});
const USES_APP = workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] });

describe('hardening', () => {
  it('gives identical Secrets in two namespaces different digests (no cross-namespace oracle)', async (t) => {
    const confighash = await startConfighashForTest(t);
    const [a, b] = [await testNamespace(t, ENABLED), await testNamespace(t, ENABLED)];
    for (const ns of [a, b]) await apply(ns, secret('db', { pin: '1234' }), USES_DB);
    const [stampA, stampB] = await Promise.all(
      [a, b].map(async (ns) => templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))),
    );
    assert.match(stampA?.[SOURCES] ?? '', /^secret\/db=[0-9a-f]{12}$/);
    assert.notEqual(stampA?.[SOURCES], stampB?.[SOURCES]);
    assert.match(stampA?.[CHECKSUM] ?? '', /^v2:[0-9a-f]{8}:[0-9a-f]{64}$/);
    // As a value of its own: a timestamp or a port may hold those digits.
    assert.equal(
      confighash.logs.some((line) => /(?<![0-9])1234(?![0-9])/.test(line)),
      false,
    );
  });

  it('does not roll a workload whose required ConfigMap was deleted, and rolls it once when it comes back different', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=500ms']);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, configMap('app', { LEVEL: 'info' }), USES_APP);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);

    await kubectl(['delete', 'configmap', 'app', '-n', ns]);
    const [warning] = await waitForEvents(ns, 'MissingSource');
    assert.match(warning?.message ?? '', /configmap\/app was deleted: the workload is not rolled/);
    assert.ok(
      (await metricValue(confighash.metricsUrl, 'confighash_rollouts_suppressed_total{reason="missing_source"}')) >= 1,
    );
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      1,
      'rolled into pods that cannot start',
    );
    const status = JSON.parse(
      await confighashCli(['status', '-n', ns, '-o', 'json', `--confighash-namespace=${CONFIGHASH_NAMESPACE}`]),
    ) as { state: string }[];
    assert.equal(status[0]?.state, 'missing-source');

    // Back with the same content: nothing to roll. Then a real change: one rollout.
    await apply(ns, configMap('app', { LEVEL: 'info' }));
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
    await apply(ns, configMap('app', { LEVEL: 'debug' }));
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
  });

  it('restores a deleted HMAC key Secret from memory, and a restart after it rolls nothing', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, secret('db', { pin: '1234' }), USES_DB);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
    const before = await secretData('confighash-hmac-key');

    await kubectl(['delete', 'secret', 'confighash-hmac-key', '-n', CONFIGHASH_NAMESPACE]);
    const restored = await waitFor('the key to be restored', async () => {
      const data = await secretData('confighash-hmac-key').catch(() => '');
      return data ? data : undefined;
    });
    assert.equal(restored, before, 'restored with the same keys');
    assert.equal(await metricValue(confighash.metricsUrl, 'confighash_self_repairs_total{object="hmac-key"}'), 1);
    const [event] = await waitForEvents(CONFIGHASH_NAMESPACE, 'KeyRestored');
    assert.match(event?.message ?? '', /Restored from memory/);

    await confighash.stop();
    const next = await startConfighashForTest(t);
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', next.metricsUrl),
      1,
      'a restart after the deletion rolled a workload',
    );
  });

  it('rotates the HMAC key without rolling anything; new stamps name the new key; the next change rolls once', async (t) => {
    const confighash = await startConfighashForTest(t, ['--coalesce-window=500ms']);
    const ns = await testNamespace(t, ENABLED);
    await apply(ns, secret('db', { pin: '1234' }), USES_DB);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 1);
    const oldKey = templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[CHECKSUM]?.split(':')[1];

    const out = await confighashCli(['rotate-key', `--confighash-namespace=${CONFIGHASH_NAMESPACE}`]);
    const newKey = /signed with key ([0-9a-f]{8})/.exec(out)?.[1];
    assert.match(newKey ?? '', /^[0-9a-f]{8}$/, out);
    assert.notEqual(newKey, oldKey);
    await waitFor('confighash to sign with the new key', async () => {
      const dryRun = await kubectl(
        ['create', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'],
        JSON.stringify({ ...USES_DB, metadata: { name: 'probe' } }),
      );
      return dryRun.includes(`"confighash.dev/checksum": "v2:${newKey}:`) || undefined;
    });
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      1,
      'the rotation rolled a workload',
    );
    await kubectl(['apply', '-n', ns, '-f', '-'], JSON.stringify(USES_DB));
    assert.equal(
      await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl),
      1,
      're-applying after the rotation rolled it',
    );

    await kubectl(['patch', 'secret', 'db', '-n', ns, '--type=merge', '-p', '{"stringData":{"pin":"4321"}}']);
    await waitForRevisions(ns, 'Deployment', 'web', 2);
    assert.equal(await settledRevisions(ns, 'Deployment', 'web', confighash.metricsUrl), 2);
    assert.equal(templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[CHECKSUM]?.split(':')[1], newKey);
  });

  it('replaces a corrupt webhook TLS Secret and serves, instead of staying down', async (t) => {
    await kubectl(['create', 'namespace', CONFIGHASH_NAMESPACE, '--dry-run=client', '-o', 'json']).then((ns) =>
      kubectl(['apply', '-f', '-'], ns),
    );
    const garbage = Buffer.from('not a certificate').toString('base64');
    const corrupt = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'confighash-webhook-tls', namespace: CONFIGHASH_NAMESPACE },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': garbage, 'tls.key': garbage, 'ca.crt': garbage, 'ca.key': garbage },
    };
    await kubectl(['delete', 'secret', 'confighash-webhook-tls', '-n', CONFIGHASH_NAMESPACE, '--ignore-not-found']);
    await kubectl(['create', '-f', '-'], JSON.stringify(corrupt));
    // startConfighashForTest returns once /readyz is 200 and the API server calls the webhook.
    const confighash = await startConfighashForTest(t);
    assert.notEqual(await secretData('confighash-webhook-tls'), JSON.stringify(corrupt.data));
    assert.equal(await metricValue(confighash.metricsUrl, 'confighash_self_repairs_total{object="webhook-tls"}'), 1);
    assert.ok((await waitForEvents(CONFIGHASH_NAMESPACE, 'CertificateReplaced')).length > 0);
  });

  it('restores its webhook configuration when it is deleted or changed, and keeps stamping', async (t) => {
    const confighash = await startConfighashForTest(t);
    const ns = await testNamespace(t, ENABLED);
    // Event times have a resolution of a second; the Events of other tests' repairs are older.
    const since = Math.floor(Date.now() / 1000) * 1000;
    const webhook = async (): Promise<{ failurePolicy?: string; clientConfig?: { url?: string } } | undefined> => {
      const out = await kubectl([
        'get',
        'mutatingwebhookconfiguration',
        'confighash',
        '-o',
        'jsonpath={.webhooks[0]}',
        '--ignore-not-found',
      ]);
      return out ? (JSON.parse(out) as { failurePolicy?: string }) : undefined;
    };
    await kubectl(['delete', 'mutatingwebhookconfiguration', 'confighash']);
    await waitFor(
      'the configuration to be restored',
      async () => (await webhook())?.clientConfig?.url === confighash.webhookUrl || undefined,
    );
    await kubectl([
      'patch',
      'mutatingwebhookconfiguration',
      'confighash',
      '--type=json',
      '-p',
      '[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Fail"}]',
    ]);
    await waitFor('failurePolicy Ignore again', async () => (await webhook())?.failurePolicy === 'Ignore' || undefined);
    assert.equal(
      await metricValue(confighash.metricsUrl, 'confighash_self_repairs_total{object="webhook-configuration"}'),
      2,
    );
    const restored = await waitFor('two Events', async () => {
      const found = (await eventsOf('default', 'WebhookConfigurationRestored')).filter(
        (e) => Date.parse(e.lastTimestamp ?? '') >= since,
      );
      return found.length === 2 ? found : undefined;
    });
    assert.deepEqual(restored.map((e) => /\((.*)\)/.exec(e.message)?.[1]).sort(), [
      'it did not exist',
      'its failurePolicy changed',
    ]);
    await apply(ns, configMap('app', { LEVEL: 'info' }), USES_APP);
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))[SOURCES] ?? '',
      /^configmap\/app=/,
      'the restored webhook stamps',
    );
  });

  it('restores a deleted webhook TLS Secret from memory: the same CA, nothing re-trusted', async (t) => {
    const confighash = await startConfighashForTest(t);
    const tlsData = (): Promise<string> =>
      kubectl([
        'get',
        'secret',
        'confighash-webhook-tls',
        '-n',
        CONFIGHASH_NAMESPACE,
        '-o',
        'jsonpath={.data.ca\\.crt}',
        '--ignore-not-found',
      ]);
    const before = await tlsData();
    assert.ok(before);
    await kubectl(['delete', 'secret', 'confighash-webhook-tls', '-n', CONFIGHASH_NAMESPACE]);
    assert.equal(await waitFor('the Secret to be restored', async () => (await tlsData()) || undefined), before);
    assert.equal(await metricValue(confighash.metricsUrl, 'confighash_self_repairs_total{object="webhook-tls"}'), 1);
    const [event] = await waitForEvents(CONFIGHASH_NAMESPACE, 'CertificateRestored');
    assert.match(event?.message ?? '', /restored it from memory/);
  });

  it("stays ready while the API server restarts: readiness is the webhook's, the controller's watches are reported", async (t) => {
    const confighash = await startConfighashForTest(t);
    const readyz = async (): Promise<{ status: number; body: string }> => {
      const response = await fetch(`${confighash.metricsUrl}/readyz`);
      return { status: response.status, body: await response.text() };
    };
    assert.match(
      (await readyz()).body,
      /\[\+\]webhook ok\n\[\+\]certificates ok\n\[\+\]namespaces ok\n\[i\]controller: ok\nok/,
    );
    const restart = restartApiserver();
    const seen = new Set<number>();
    let sawWatchProblem = false;
    await waitFor(
      'the controller to report its watches failing, then recovering',
      async () => {
        const { status, body } = await readyz();
        seen.add(status);
        sawWatchProblem ||= /\[i\]controller: (?!ok)/.test(body);
        return sawWatchProblem && body.includes('[i]controller: ok') ? true : undefined;
      },
      90_000,
    );
    await restart;
    assert.deepEqual([...seen], [200], 'readiness failed while only the watches were down');
  });
});
