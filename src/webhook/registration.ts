// The MutatingWebhookConfiguration `confighash`, kept as confighash needs it: the
// rules, the opt-in namespaceSelector, failing open, and the CA bundle when
// confighash manages TLS. confighash is the one owner of its `webhooks`: the
// install manifests create the object without them, so `kubectl apply -k` and
// `confighash run` (by Service or by --webhook-url) work in either order. Its one webhook is replaced whole (a merge patch replaces
// lists), so that switching between Service and URL never leaves both set, which
// server-side apply would when the manifests set the other; a CA bundle confighash
// does not manage (cert-manager's) is kept.
import type {
  AdmissionregistrationV1Api,
  AdmissionregistrationV1WebhookClientConfig,
  V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { NAMESPACE_LABEL } from '../checksum/index.ts';
import { PatchStrategy, patchAs, withTimeout } from '../kube/client.ts';
import { describeApiError, isNotFound } from '../kube/errors.ts';
import { MUTATE_PATH } from './server.ts';

export const WEBHOOK_CONFIGURATION = 'confighash';
export const WEBHOOK_NAME = 'workloads.confighash.dev';
const REQUEST_TIMEOUT_MS = 10_000;

export interface WebhookRegistration {
  /** confighash's own namespace, never mutated. */
  namespace: string;
  /** A URL (`https://host:port/mutate`) when running outside the cluster; else the Service. */
  endpoint: { url: string } | { service: { name: string; namespace: string; port: number } };
  timeoutSeconds: number;
}

export function webhookConfiguration(
  registration: WebhookRegistration,
  caBundle: string | undefined,
): V1MutatingWebhookConfiguration {
  const { endpoint } = registration;
  const clientConfig: AdmissionregistrationV1WebhookClientConfig =
    'url' in endpoint ? { url: endpoint.url } : { service: { ...endpoint.service, path: MUTATE_PATH } };
  if (caBundle) clientConfig.caBundle = Buffer.from(caBundle).toString('base64');
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIGURATION, labels: { 'app.kubernetes.io/name': 'confighash' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['deployments', 'statefulsets', 'daemonsets'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: {
          matchLabels: { [NAMESPACE_LABEL]: 'true' },
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [registration.namespace, 'kube-system'] },
          ],
        },
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: registration.timeoutSeconds,
        reinvocationPolicy: 'IfNeeded',
        matchPolicy: 'Equivalent',
        admissionReviewVersions: ['v1'],
      },
    ],
  };
}

/**
 * Creates the configuration if absent (only needed outside the cluster: in-cluster
 * the manifests create it and confighash may only get and patch it), else patches it.
 */
export async function applyWebhookConfiguration(
  api: AdmissionregistrationV1Api,
  registration: WebhookRegistration,
  caBundle: string | undefined,
): Promise<void> {
  const desired = webhookConfiguration(registration, caBundle);
  const what = `mutatingwebhookconfiguration ${WEBHOOK_CONFIGURATION}`;
  try {
    let existing: V1MutatingWebhookConfiguration;
    try {
      existing = await api.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIGURATION }, withTimeout(REQUEST_TIMEOUT_MS));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await api.createMutatingWebhookConfiguration({ body: desired, fieldManager: 'confighash' }, withTimeout(REQUEST_TIMEOUT_MS));
      return;
    }
    const keptBundle = existing.webhooks?.find((w) => w.name === WEBHOOK_NAME)?.clientConfig.caBundle;
    const [webhook] = desired.webhooks ?? [];
    if (webhook && !caBundle && keptBundle) webhook.clientConfig.caBundle = keptBundle;
    await api.patchMutatingWebhookConfiguration(
      { name: WEBHOOK_CONFIGURATION, body: { metadata: desired.metadata, webhooks: desired.webhooks }, fieldManager: 'confighash' },
      patchAs(PatchStrategy.MergePatch, withTimeout(REQUEST_TIMEOUT_MS)),
    );
  } catch (error) {
    throw new Error(describeApiError(`apply ${what}`, error), { cause: error });
  }
}
