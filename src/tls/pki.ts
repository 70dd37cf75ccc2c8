// X.509 material: a certificate authority and the certificates it issues, built
// with node-forge; keys are made and signatures computed by Node's crypto. Used
// by self-managed webhook TLS and by the local test control plane.
import {
  constants,
  generateKeyPair as generateNativeKeyPair,
  type KeyObject,
  privateEncrypt,
  randomBytes,
} from 'node:crypto';
import { promisify } from 'node:util';
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
  const privateKey = privateKeyPem(keys.privateKey);
  const cert = newCertificate(keys.publicKey, commonName, now, new Date(now.getTime() + validityMs));
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(signer(privateKey), forge.md.sha256.create());
  return { certificate: certificatePem(cert), privateKey };
}

/** Issues a leaf certificate for `request`, signed by `authority`. */
export async function issueCertificate(
  authority: CertifiedKey,
  request: CertificateRequest,
  now: Date = new Date(),
): Promise<CertifiedKey> {
  const caCert = forge.pki.certificateFromPem(authority.certificate);
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
  cert.sign(signer(authority.privateKey), forge.md.sha256.create());
  return { certificate: certificatePem(cert), privateKey: privateKeyPem(keys.privateKey) };
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

function newCertificate(publicKey: KeyObject, commonName: string, now: Date, notAfter: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = randomSerialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = notAfter;
  cert.setSubject(subjectAttributes(commonName, []));
  return cert;
}

function subjectAttributes(commonName: string, organizations: readonly string[] = []): forge.pki.CertificateField[] {
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

function generateKeyPair(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return promisify(generateNativeKeyPair)('rsa', { modulusLength: RSA_BITS });
}

/** The DER prefix of a SHA-256 DigestInfo (RFC 8017, section 9.2). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * What forge's certificate.sign() asks of a private key: the RSASSA-PKCS1-v1_5
 * signature of the digest it computed, as a binary string. Node's crypto computes
 * it natively; forge's own big-number arithmetic took 150 ms and left about 4 MiB
 * resident for each certificate issued.
 */
function signer(privateKeyPem: string): forge.pki.rsa.PrivateKey {
  const sign = (digest: forge.md.MessageDigest): string => {
    const digestInfo = Buffer.concat([SHA256_DIGEST_INFO, Buffer.from(digest.digest().getBytes(), 'binary')]);
    return privateEncrypt({ key: privateKeyPem, padding: constants.RSA_PKCS1_PADDING }, digestInfo).toString('binary');
  };
  return { sign } as unknown as forge.pki.rsa.PrivateKey;
}

/** PEM with LF line ends (forge writes CRLF). */
function certificatePem(cert: forge.pki.Certificate): string {
  return forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
}

/** PKCS#1 PEM ("RSA PRIVATE KEY"), as forge wrote the keys of earlier releases. */
function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs1', format: 'pem' }).toString();
}
