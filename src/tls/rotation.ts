// When self-managed certificates are renewed, as a pure function of what the
// Secret holds and the time. The serving certificate is renewed when a third of
// its validity is left. The CA is renewed in two steps so the apiserver never
// meets a certificate it does not trust: first a next CA is added to the trusted
// bundle; only after `promotionDelay` is it used to sign, and the old CA stays in
// the bundle until it expires. Should the current CA be about to expire anyway
// (confighash was down, or the validity was shortened), the next CA is promoted
// at once: a brief distrust beats serving an expired certificate.
import { X509Certificate } from 'node:crypto';
import type { CertifiedKey } from './pki.ts';

export interface TlsState {
  ca: CertifiedKey;
  serving: CertifiedKey;
  /** The next CA, trusted already, not yet signing. */
  nextCa?: CertifiedKey;
  nextCaSince?: Date;
  /** Every CA certificate the apiserver should trust (PEM, concatenated). */
  bundle: string;
}

export interface RotationPolicy {
  caValidityMs: number;
  servingValidityMs: number;
  /** How long a next CA is trusted before it signs (covers the apiserver's config propagation). */
  promotionDelayMs: number;
  /** A CA with less than this left is replaced now: the time until the next check, with slack. */
  expiryMarginMs: number;
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
}

export type RotationStep =
  | { kind: 'none' }
  | { kind: 'create' }
  | { kind: 'add-next-ca' }
  | { kind: 'promote-next-ca' }
  | { kind: 'renew-serving'; reason: string }
  | { kind: 'prune-bundle' };

/** What to do next to `state` at `now`; apply steps until this says `none`. */
export function nextRotationStep(state: TlsState | undefined, policy: RotationPolicy, now: Date): RotationStep {
  if (!state) return { kind: 'create' };
  const ca = new X509Certificate(state.ca.certificate);
  const step = caStep(state, ca, policy, now);
  if (step) return step;
  const reason = servingProblem(state, ca, policy, now);
  if (reason) return { kind: 'renew-serving', reason };
  if (bundleCertificates(state.bundle).some((pem) => expired(new X509Certificate(pem), now))) {
    return { kind: 'prune-bundle' };
  }
  return { kind: 'none' };
}

/** The CA's next step, if one is due: stage a next CA, or promote the staged one. */
function caStep(state: TlsState, ca: X509Certificate, policy: RotationPolicy, now: Date): RotationStep | undefined {
  if (state.nextCa && state.nextCaSince) {
    const delayPassed = now.getTime() - state.nextCaSince.getTime() >= policy.promotionDelayMs;
    const caExpiring = new Date(ca.validTo).getTime() - now.getTime() < policy.expiryMarginMs;
    return delayPassed || caExpiring ? { kind: 'promote-next-ca' } : undefined;
  }
  if (dueForRenewal(ca, policy.caValidityMs, now) || outlives(ca, policy.caValidityMs, now)) {
    return { kind: 'add-next-ca' };
  }
  return undefined;
}

/** Why the serving certificate must be renewed, if it must. */
function servingProblem(state: TlsState, ca: X509Certificate, policy: RotationPolicy, now: Date): string | undefined {
  const serving = new X509Certificate(state.serving.certificate);
  if (!serving.checkIssued(ca) || !serving.verify(ca.publicKey)) return 'not signed by the current CA';
  if (dueForRenewal(serving, policy.servingValidityMs, now)) return 'a third of its validity is left';
  if (outlives(serving, policy.servingValidityMs, now)) return 'it is valid for longer than the configured validity';
  const missing = [
    ...policy.dnsNames.filter((name) => serving.checkHost(name, { wildcards: false }) === undefined),
    ...policy.ipAddresses.filter((ip) => serving.checkIP(ip) === undefined),
  ];
  return missing.length > 0 ? `it does not cover ${missing.join(', ')}` : undefined;
}

/** True when less than a third of `validityMs` is left (by policy, not by the certificate's own span). */
export function dueForRenewal(cert: X509Certificate, validityMs: number, now: Date): boolean {
  return new Date(cert.validTo).getTime() - now.getTime() < validityMs / 3;
}

/** True when `cert` is valid for longer than `validityMs` from now: the configured validity was shortened. */
function outlives(cert: X509Certificate, validityMs: number, now: Date): boolean {
  return new Date(cert.validTo).getTime() - now.getTime() > validityMs;
}

function expired(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validTo).getTime() <= now.getTime();
}

/** Splits a PEM bundle into its certificates. */
export function bundleCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/** A bundle of `pems`, without duplicates or certificates expired at `now`. */
export function makeBundle(pems: readonly string[], now: Date): string {
  const unique = [...new Set(pems.map((pem) => pem.trim()))];
  return unique
    .filter((pem) => !expired(new X509Certificate(pem), now))
    .map((pem) => `${pem}\n`)
    .join('');
}
