// X.509 material with node-forge: a certificate authority and the certificates
// it issues. Used by self-managed webhook TLS and by the local test control plane.
import { randomBytes } from 'node:crypto';
import forge from 'node-forge';

/** A certificate and its private key, both PEM-encoded. */
export interface CertifiedKey {
  certificate: string;
  privateKey: string;
}

export type CertificateUsage = 'server' | 'client';

export interface CertificateRequest {
  commonName: string;
  /** Subject organizations; Kubernetes reads them as a client certificate's groups. */
  organizations?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usage: CertificateUsage;
  /** Capped at the authority's own expiry. */
  validityMs: number;
}

/** Certificates are valid from a little before `now`, to tolerate clock skew between hosts. */
const BACKDATE_MS = 5 * 60 * 1000;
export const DAY_MS = 24 * 60 * 60 * 1000;
const RSA_BITS = 2048;

/** Creates a self-signed certificate authority valid for `validityMs` from `now`. */
export async function createCertificateAuthority(
  commonName: string,
  validityMs: number,
  now: Date = new Date(),
): Promise<CertifiedKey> {
  const keys = await generateKeyPair();
  const cert = newCertificate(keys.publicKey, commonName, now, new Date(now.getTime() + validityMs));
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return toPem(cert, keys.privateKey);
}

/** Issues a leaf certificate for `request`, signed by `authority`. */
export async function issueCertificate(
  authority: CertifiedKey,
  request: CertificateRequest,
  now: Date = new Date(),
): Promise<CertifiedKey> {
  const caCert = forge.pki.certificateFromPem(authority.certificate);
  const caKey = forge.pki.privateKeyFromPem(authority.privateKey);
  const keys = await generateKeyPair();
  const notAfter = Math.min(now.getTime() + request.validityMs, caCert.validity.notAfter.getTime());
  const cert = newCertificate(keys.publicKey, request.commonName, now, new Date(notAfter));
  cert.setSubject(subjectAttributes(request.commonName, request.organizations));
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    {
      name: 'extKeyUsage',
      serverAuth: request.usage === 'server',
      clientAuth: request.usage === 'client',
    },
    ...subjectAltNames(request),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return toPem(cert, keys.privateKey);
}

/**
 * A random positive serial of 128 bits, DER-minimal: the first byte is non-zero
 * and below 0x80 (strict parsers such as Go's reject zero-padded or negative ones).
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f || 0x01;
  return bytes.toString('hex');
}

function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  commonName: string,
  now: Date,
  notAfter: Date,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = randomSerialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = notAfter;
  cert.setSubject(subjectAttributes(commonName, []));
  return cert;
}

function subjectAttributes(
  commonName: string,
  organizations: readonly string[] = [],
): forge.pki.CertificateField[] {
  return [
    ...organizations.map((value) => ({ name: 'organizationName', value })),
    { name: 'commonName', value: commonName },
  ];
}

function subjectAltNames(request: CertificateRequest): object[] {
  const altNames = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(request.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  return altNames.length === 0 ? [] : [{ name: 'subjectAltName', altNames }];
}

function generateKeyPair(): Promise<forge.pki.rsa.KeyPair> {
  // forge delegates to Node's native, non-blocking RSA key generation when it can.
  return new Promise((resolve, reject) => {
    forge.pki.rsa.generateKeyPair({ bits: RSA_BITS }, (error: Error | null, keys) => {
      if (error) reject(error);
      else resolve(keys);
    });
  });
}

/** PEM with LF line ends (forge writes CRLF). */
function toPem(cert: forge.pki.Certificate, privateKey: forge.pki.rsa.PrivateKey): CertifiedKey {
  return {
    certificate: forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n'),
    privateKey: forge.pki.privateKeyToPem(privateKey).replace(/\r\n/g, '\n'),
  };
}
