import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1MutatingWebhook } from '@kubernetes/client-node';
import { NamespaceScope } from '../scope/namespace-scope.ts';
import { type WebhookRegistration, webhookConfiguration, webhookDrift } from './registration.ts';

const registration: WebhookRegistration = {
  endpoint: { service: { name: 'confighash', namespace: 'confighash-system', port: 443 } },
  namespaceSelector: new NamespaceScope({ excluded: new Set(['confighash-system', 'kube-system']) }).webhookSelector(),
  timeoutSeconds: 5,
};

function desired(bundle: string | undefined = 'CA'): V1MutatingWebhook {
  const [webhook] = webhookConfiguration(registration, bundle).webhooks ?? [];
  if (!webhook) throw new Error('no webhook');
  return webhook;
}

/** What confighash writes, changed by `change`. */
function changed(change: (webhook: V1MutatingWebhook) => void): V1MutatingWebhook {
  const webhook = structuredClone(desired());
  change(webhook);
  return webhook;
}

describe('webhookDrift', () => {
  it('finds nothing in what confighash wrote, API server defaults included', () => {
    const written = changed((w) => {
      if (w.clientConfig.service) delete w.clientConfig.service.port;
      w.objectSelector = {};
    });
    assert.equal(webhookDrift(desired(), written, true), undefined);
  });

  it('names what changed: a missing webhook, a policy, the endpoint, a missing bundle', () => {
    assert.match(webhookDrift(desired(), undefined, true) ?? '', /has no webhook/);
    assert.equal(
      webhookDrift(
        desired(),
        changed((w) => {
          w.failurePolicy = 'Fail';
        }),
        true,
      ),
      'its failurePolicy changed',
    );
    const elsewhere = changed((w) => {
      w.clientConfig = { url: 'https://example.test/mutate', caBundle: 'CA' };
    });
    assert.equal(webhookDrift(desired(), elsewhere, true), 'its clientConfig changed');
    const unbundled = changed((w) => {
      delete w.clientConfig.caBundle;
    });
    assert.equal(webhookDrift(desired(), unbundled, true), 'its CA bundle is missing');
  });

  it("leaves alone a bundle it does not manage, and another replica's bundle during a rotation", () => {
    const unbundled = changed((w) => {
      delete w.clientConfig.caBundle;
    });
    assert.equal(webhookDrift(desired(undefined), unbundled, false), undefined);
    const other = changed((w) => {
      w.clientConfig.caBundle = 'OTHER CA';
    });
    assert.equal(webhookDrift(desired(), other, true), undefined);
  });
});
