// A throwaway mutating webhook for end-to-end tests of the admission path: served
// by fastify over HTTPS on loopback, registered by URL with its CA as caBundle.
// It records every AdmissionReview and adds one pod-template annotation.
import type { TestContext } from 'node:test';
import Fastify from 'fastify';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../../src/tls/pki.ts';
import { kubectl } from './kube.ts';

export interface RecordedReview {
  apiVersion: string;
  kind: string;
  request: {
    uid: string;
    name: string;
    operation: string;
    dryRun?: boolean;
    kind: { group: string; version: string; kind: string };
    object: { spec: { template: { metadata: { annotations?: Record<string, string> } } } };
  };
}

export interface TestWebhook {
  reviews: RecordedReview[];
}

/** Adds the pod-template annotation `e2e.confighash.dev/mutated: "true"`. */
function patchFor(review: RecordedReview): object[] {
  const annotations = '/spec/template/metadata/annotations';
  // An empty annotations map is not stored, so the map itself may need adding.
  return review.request.object.spec.template.metadata.annotations
    ? [{ op: 'add', path: `${annotations}/e2e.confighash.dev~1mutated`, value: 'true' }]
    : [{ op: 'add', path: annotations, value: { 'e2e.confighash.dev/mutated': 'true' } }];
}

/**
 * Starts the webhook and registers it for Deployment CREATEs in namespaces
 * labelled `namespaceLabel`. Both are removed when the test ends.
 */
export async function startTestWebhook(t: TestContext, namespaceLabel: string): Promise<TestWebhook> {
  const ca = await createCertificateAuthority('e2e-webhook-ca', DAY_MS);
  const serving = await issueCertificate(ca, {
    commonName: '127.0.0.1',
    ipAddresses: ['127.0.0.1'],
    usage: 'server',
    validityMs: DAY_MS,
  });
  const reviews: RecordedReview[] = [];
  const server = Fastify({ https: { cert: serving.certificate, key: serving.privateKey } });
  server.post('/mutate', (request) => {
    const review = request.body as RecordedReview;
    reviews.push(review);
    return {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: {
        uid: review.request.uid,
        allowed: true,
        patchType: 'JSONPatch',
        patch: Buffer.from(JSON.stringify(patchFor(review))).toString('base64'),
      },
    };
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  const name = `e2e-${url.split(':').at(-1) ?? 'webhook'}`;
  t.after(async () => {
    await kubectl(['delete', 'mutatingwebhookconfiguration', name, '--ignore-not-found']);
    await server.close();
  });
  await kubectl(
    ['apply', '-f', '-'],
    JSON.stringify(configuration(name, `${url}/mutate`, ca.certificate, namespaceLabel)),
  );
  return { reviews };
}

function configuration(name: string, url: string, caPem: string, namespaceLabel: string): object {
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name },
    webhooks: [
      {
        name: 'e2e.confighash.dev',
        clientConfig: { url, caBundle: Buffer.from(caPem).toString('base64') },
        rules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE'], resources: ['deployments'] }],
        namespaceSelector: { matchExpressions: [{ key: namespaceLabel, operator: 'Exists' }] },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        failurePolicy: 'Fail',
        timeoutSeconds: 5,
      },
    ],
  };
}
