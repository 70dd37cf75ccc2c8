import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { generate } from './generate.ts';

describe('certs/generate.ts', () => {
  it('issues a serving certificate for the Service names, signed by the CA it writes', async () => {
    const { ca, certificate } = await generate('confighash-system', 'confighash', 30);
    const cert = new X509Certificate(certificate);
    assert.ok(cert.verify(new X509Certificate(ca).publicKey));
    for (const name of ['confighash.confighash-system.svc', 'confighash.confighash-system.svc.cluster.local']) {
      assert.equal(cert.checkHost(name), name);
    }
  });
});
