// The local control plane's PKI: a CA, the apiserver's serving certificate, an
// admin client certificate in system:masters, a service-account key pair, and the
// client certificate the apiserver presents to admission webhooks, from a CA of
// its own (what confighash's --client-ca-file trusts).
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCertificateAuthority, DAY_MS, issueCertificate } from '../../src/tls/pki.ts';
import { POD_GATEWAY } from './node.ts';

export interface ControlPlanePki {
  caCert: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
  webhookClientCaCert: string;
  webhookClientCert: string;
  webhookClientKey: string;
}

/** The CA that signs the apiserver's webhook client certificate, in the control plane's directory. */
export function webhookClientCaPath(controlPlaneDir: string): string {
  return join(controlPlaneDir, 'pki', 'webhook-client-ca.crt');
}

/** The common name of the apiserver's webhook client certificate. */
export const WEBHOOK_CLIENT_NAME = 'kube-apiserver-webhook-client';

const VALIDITY_MS = 30 * DAY_MS;
/** The first address of the Service range: the `kubernetes` Service's. */
export const KUBERNETES_SERVICE_IP = '10.0.0.1';

/** Generates the PKI and writes it, one PEM file each, into `dir`. */
export async function writeControlPlanePki(dir: string): Promise<ControlPlanePki> {
  const ca = await createCertificateAuthority('confighash-local-ca', VALIDITY_MS);
  const webhookClientCa = await createCertificateAuthority('confighash-local-webhook-client-ca', VALIDITY_MS);
  const [serving, admin, webhookClient] = await Promise.all([
    issueCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      // Loopback for the host; the `kubernetes` Service's cluster address and the bridge
      // gateway it leads to, for pods (controlplane.ts: --service-cluster-ip-range).
      ipAddresses: ['127.0.0.1', KUBERNETES_SERVICE_IP, POD_GATEWAY],
      usage: 'server',
      validityMs: VALIDITY_MS,
    }),
    issueCertificate(ca, {
      commonName: 'confighash-admin',
      organizations: ['system:masters'],
      usage: 'client',
      validityMs: VALIDITY_MS,
    }),
    issueCertificate(webhookClientCa, { commonName: WEBHOOK_CLIENT_NAME, usage: 'client', validityMs: VALIDITY_MS }),
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
    webhookClientCaCert: join(dir, 'webhook-client-ca.crt'),
    webhookClientCert: join(dir, 'webhook-client.crt'),
    webhookClientKey: join(dir, 'webhook-client.key'),
  };
  const contents: Record<keyof ControlPlanePki, string> = {
    caCert: ca.certificate,
    servingCert: serving.certificate,
    servingKey: serving.privateKey,
    adminCert: admin.certificate,
    adminKey: admin.privateKey,
    serviceAccountPublicKey: serviceAccount.publicKey,
    serviceAccountPrivateKey: serviceAccount.privateKey,
    webhookClientCaCert: webhookClientCa.certificate,
    webhookClientCert: webhookClient.certificate,
    webhookClientKey: webhookClient.privateKey,
  };
  await Promise.all(
    (Object.keys(files) as (keyof ControlPlanePki)[]).map((key) =>
      writeFile(files[key], contents[key], { mode: 0o600 }),
    ),
  );
  return files;
}
