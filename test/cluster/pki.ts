// The local control plane's PKI: a CA, the apiserver's serving certificate, an
// admin client certificate in system:masters and a service-account key pair.
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../../src/tls/pki.ts';

export interface ControlPlanePki {
  caCert: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
}

const VALIDITY_MS = 30 * DAY_MS;

/** Generates the PKI and writes it, one PEM file each, into `dir`. */
export async function writeControlPlanePki(dir: string): Promise<ControlPlanePki> {
  const ca = await createCertificateAuthority('confighash-local-ca', VALIDITY_MS);
  const [serving, admin] = await Promise.all([
    issueCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1'],
      usage: 'server',
      validityMs: VALIDITY_MS,
    }),
    issueCertificate(ca, {
      commonName: 'confighash-admin',
      organizations: ['system:masters'],
      usage: 'client',
      validityMs: VALIDITY_MS,
    }),
  ]);
  const serviceAccount = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const files: ControlPlanePki = {
    caCert: join(dir, 'ca.crt'),
    servingCert: join(dir, 'apiserver.crt'),
    servingKey: join(dir, 'apiserver.key'),
    adminCert: join(dir, 'admin.crt'),
    adminKey: join(dir, 'admin.key'),
    serviceAccountPublicKey: join(dir, 'sa.pub'),
    serviceAccountPrivateKey: join(dir, 'sa.key'),
  };
  const contents: Record<keyof ControlPlanePki, string> = {
    caCert: ca.certificate,
    servingCert: serving.certificate,
    servingKey: serving.privateKey,
    adminCert: admin.certificate,
    adminKey: admin.privateKey,
    serviceAccountPublicKey: serviceAccount.publicKey,
    serviceAccountPrivateKey: serviceAccount.privateKey,
  };
  await Promise.all(
    (Object.keys(files) as (keyof ControlPlanePki)[]).map((key) =>
      writeFile(files[key], contents[key], { mode: 0o600 }),
    ),
  );
  return files;
}
