// Who may call the webhook: with --client-ca-file, only a client presenting a
// certificate that CA signed, with one of --client-names. The local control plane's
// API server presents such a certificate to every webhook (its admission
// configuration), as a cluster that authenticates itself to webhooks does.
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { webhookClientCaPath, WEBHOOK_CLIENT_NAME } from '../cluster/pki.ts';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../../src/tls/pki.ts';
import { startConfighashForTest } from '../support/confighash.ts';
import { post, publishedCaBundle } from '../support/https.ts';
import { getWorkload, templateAnnotations } from '../support/kube-objects.ts';
import { apply, testNamespace } from '../support/kube.ts';
import { configMap, workload } from '../support/workloads.ts';

const REVIEW = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u', kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, operation: 'CREATE', object: {} },
});

describe('webhook client authentication', () => {
  it('serves the API server, and refuses a caller without a certificate its CA signed', async (t) => {
    const clientCa = webhookClientCaPath(dirname(process.env['KUBECONFIG'] ?? ''));
    const confighash = await startConfighashForTest(t, [
      `--client-ca-file=${clientCa}`,
      `--client-names=${WEBHOOK_CLIENT_NAME}`,
    ]);
    const ns = await testNamespace(t, { 'confighash.dev/enabled': 'true' });
    await apply(
      ns,
      configMap('app', { a: '1' }),
      workload('Deployment', 'web', { envFrom: [{ configMapRef: { name: 'app' } }] }),
    );
    assert.match(
      templateAnnotations(await getWorkload(ns, 'Deployment', 'web'))['confighash.dev/sources'] ?? '',
      /^configmap\/app=/,
      'the API server is served',
    );

    const ca = await publishedCaBundle();
    await assert.rejects(post(confighash.webhookUrl, ca, REVIEW), 'no client certificate: no answer');
    const stranger = await createCertificateAuthority('stranger', DAY_MS);
    const client = await issueCertificate(stranger, {
      commonName: WEBHOOK_CLIENT_NAME,
      usage: 'client',
      validityMs: DAY_MS,
    });
    await assert.rejects(
      post(confighash.webhookUrl, ca, REVIEW, { client: { cert: client.certificate, key: client.privateKey } }),
      'a certificate of another CA: no answer',
    );
  });
});
