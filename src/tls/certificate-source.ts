// The seam between the webhook server and where its certificates come from:
// self-managed (generated, kept in a Secret, rotated) or files (e.g. cert-manager).
import type { CertifiedKey } from './pki.ts';

export interface CertificateSource {
  /** Loads, or creates, the first certificate. */
  start(): Promise<void>;
  /** The certificate and key to serve now. */
  current(): CertifiedKey;
  /**
   * The CA bundle the apiserver should trust, when this source manages it;
   * undefined when something else does (e.g. cert-manager's CA injector).
   */
  caBundle(): string | undefined;
  /** Calls `listener` after the served certificate has changed. */
  onChange(listener: () => void): void;
  /** False when the certificate could not be loaded or renewed and is near expiry. */
  healthy(): boolean;
  stop(): void;
}
