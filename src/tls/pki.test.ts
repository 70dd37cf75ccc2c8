import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createCertificateAuthority, DAY_MS, issueCertificate, randomSerialNumber } from './pki.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('pki', () => {
  it('creates a self-signed CA', async () => {
    const ca = await createCertificateAuthority('test-ca', 365 * DAY_MS, now);
    const cert = new X509Certificate(ca.certificate);
    assert.equal(cert.ca, true);
    assert.equal(cert.subject, 'CN=test-ca');
    assert.ok(cert.verify(cert.publicKey));
    assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 365 * 24 * 3600 * 1000);
  });

  it('issues a server certificate with DNS and IP SANs that chains to the CA', async () => {
    const ca = await createCertificateAuthority('test-ca', 365 * DAY_MS, now);
    const leaf = await issueCertificate(
      ca,
      {
        commonName: 'confighash.confighash-system.svc',
        dnsNames: ['confighash.confighash-system.svc'],
        ipAddresses: ['127.0.0.1'],
        usage: 'server',
        validityMs: 30 * DAY_MS,
      },
      now,
    );
    const cert = new X509Certificate(leaf.certificate);
    const caCert = new X509Certificate(ca.certificate);
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.checkHost('confighash.confighash-system.svc'), 'confighash.confighash-system.svc');
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkHost('other.example'), undefined);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.ok(new Date(cert.validFrom) < now);
  });

  it('never issues a certificate that outlives its CA', async () => {
    const ca = await createCertificateAuthority('test-ca', DAY_MS, now);
    const leaf = await issueCertificate(ca, { commonName: 'x', usage: 'server', validityMs: 30 * DAY_MS }, now);
    assert.equal(new X509Certificate(leaf.certificate).validTo, new X509Certificate(ca.certificate).validTo);
  });

  it('puts organizations in a client certificate subject (Kubernetes groups)', async () => {
    const ca = await createCertificateAuthority('test-ca', 365 * DAY_MS, now);
    const leaf = await issueCertificate(
      ca,
      { commonName: 'admin', organizations: ['system:masters'], usage: 'client', validityMs: DAY_MS },
      now,
    );
    const cert = new X509Certificate(leaf.certificate);
    assert.equal(cert.subject, 'O=system:masters\nCN=admin');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  });

  it('gives each certificate the private key of its public key, as PKCS#1 PEM', async () => {
    const ca = await createCertificateAuthority('test-ca', DAY_MS, now);
    const leaf = await issueCertificate(ca, { commonName: 'x', usage: 'server', validityMs: DAY_MS }, now);
    for (const { certificate, privateKey } of [ca, leaf]) {
      assert.match(privateKey, /^-----BEGIN RSA PRIVATE KEY-----\n/);
      const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
      assert.deepEqual(new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'der' }), fromKey);
    }
  });

  it('issues from an authority whose key is PKCS#8', async () => {
    const ca = await createCertificateAuthority('test-ca', DAY_MS, now);
    const pkcs8 = createPrivateKey(ca.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString();
    const leaf = await issueCertificate(
      { ...ca, privateKey: pkcs8 },
      { commonName: 'x', usage: 'server', validityMs: DAY_MS },
      now,
    );
    assert.ok(new X509Certificate(leaf.certificate).verify(new X509Certificate(ca.certificate).publicKey));
  });

  it('makes random, positive, DER-minimal serial numbers', () => {
    const serials = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const serial = randomSerialNumber();
      assert.match(serial, /^(0[1-9a-f]|[1-7][0-9a-f])[0-9a-f]{30}$/);
      serials.add(serial);
    }
    assert.equal(serials.size, 1000);
  });
});
