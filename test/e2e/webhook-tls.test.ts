// Webhook TLS under change: self-managed certificates and CAs renewed while
// admissions are running, and certificates from --cert-dir reloaded in place.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../../src/tls/pki.ts';
import { metricValue, startConfighashForTest } from '../support/confighash.ts';
import { servedCertificate } from '../support/https.ts';
import { apply, kubectl, testNamespace, waitFor } from '../support/kube.ts';
import { configMap, workload } from '../support/workloads.ts';

const ROTATIONS = 'confighash_webhook_certificate_rotations_total';

describe('webhook TLS', () => {
  it('renews certificates and the CA under load without failing an admission', async (t) => {
    const confighash = await startConfighashForTest(t, [
      '--tls-ca-validity=24s',
      '--tls-cert-validity=9s',
      '--tls-check-interval=250ms',
    ]);
    t.diagnostic(`started at ${new Date().toISOString()}`);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(ns, configMap('app', { a: '1' }));
    const servingBefore = await metricValue(confighash.metricsUrl, `${ROTATIONS}{what="serving"}`);
    const caBefore = await metricValue(confighash.metricsUrl, `${ROTATIONS}{what="ca"}`);

    // Three clients admit Deployments until a CA and two serving certificates have
    // been renewed (a deadline, not a fixed time: renewals are due at set points of
    // the certificates' lives, which start a variable time before the load does).
    const renewals = async (): Promise<{ serving: number; ca: number }> => ({
      serving: (await metricValue(confighash.metricsUrl, `${ROTATIONS}{what="serving"}`)) - servingBefore,
      ca: (await metricValue(confighash.metricsUrl, `${ROTATIONS}{what="ca"}`)) - caBefore,
    });
    const manifest = JSON.stringify(workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }));
    const deadline = Date.now() + 60_000;
    let renewed = false;
    const watcher = (async (): Promise<void> => {
      while (!renewed && Date.now() < deadline) {
        const { serving, ca } = await renewals();
        renewed = serving >= 2 && ca >= 1;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const client = async (): Promise<number> => {
      let admitted = 0;
      while (!renewed && Date.now() < deadline) {
        const out = await kubectl(['create', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'], manifest);
        assert.match(out, /"confighash\.dev\/checksum": "v2:/, `admission ${admitted} was not patched`);
        admitted += 1;
      }
      return admitted;
    };
    const admitted = (await Promise.all([client(), client(), client()])).reduce((a, b) => a + b, 0);
    await watcher;
    t.diagnostic(`load done at ${new Date().toISOString()}`);

    const { serving: servingRenewals, ca: caRenewals } = await renewals();
    t.diagnostic(
      `${admitted} admissions, ${servingRenewals} serving certificates and ${caRenewals} CAs issued meanwhile`,
    );
    assert.ok(admitted >= 30, `only ${admitted} admissions ran`);
    assert.ok(servingRenewals >= 2, `${servingRenewals} serving certificate renewals`);
    assert.ok(caRenewals >= 1, `${caRenewals} CA renewals`);
  });

  it('serves certificates from --cert-dir and reloads them when the files change', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'confighash-cert-dir-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const ca = await createCertificateAuthority('cert-dir-test-ca', DAY_MS);
    const issue = (): ReturnType<typeof issueCertificate> =>
      issueCertificate(ca, {
        commonName: '127.0.0.1',
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
        validityMs: DAY_MS,
      });
    const write = async (files: Record<string, string>): Promise<void> => {
      for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    };
    const first = await issue();
    await write({ 'ca.crt': ca.certificate, 'tls.key': first.privateKey, 'tls.crt': first.certificate });

    const confighash = await startConfighashForTest(t, [`--cert-dir=${dir}`, '--tls-check-interval=250ms']);
    const serial = async (): Promise<string> =>
      (await servedCertificate(confighash.webhookUrl, ca.certificate)).serialNumber;
    const firstSerial = await serial();

    const second = await issue();
    await write({ 'tls.key': second.privateKey, 'tls.crt': second.certificate });
    const secondSerial = await waitFor('the renewed certificate to be served', async () => {
      const now = await serial();
      return now === firstSerial ? undefined : now;
    });
    assert.notEqual(secondSerial, firstSerial);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    const out = await kubectl(
      ['create', '-n', ns, '--dry-run=server', '-o', 'json', '-f', '-'],
      JSON.stringify(workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] })),
    );
    assert.match(out, /"confighash\.dev\/sources": "configmap\/app=missing"/);

    // A renewed CA arrives as a new ca.crt (old and new CA, as cert-manager's CA
    // rotation writes it): it is published to the webhook configuration.
    const nextCa = await createCertificateAuthority('cert-dir-test-ca-2', DAY_MS);
    const bundle = `${ca.certificate}${nextCa.certificate}`;
    await write({ 'ca.crt': bundle });
    await waitFor('the new ca.crt to be published as the caBundle', async () => {
      const published = await kubectl([
        'get',
        'mutatingwebhookconfiguration',
        'confighash',
        '-o',
        'jsonpath={.webhooks[0].clientConfig.caBundle}',
      ]);
      return Buffer.from(published, 'base64').toString() === bundle || undefined;
    });
  });
});
