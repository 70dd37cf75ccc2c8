// Certificates from files (--cert-dir), e.g. a cert-manager Secret mounted as a
// volume: tls.crt and tls.key (and ca.crt, when present, as the CA bundle),
// reloaded when they change. Kubernetes updates such volumes by swapping a
// symlink, so the directory is watched and also polled.
import { createSecureContext, type SecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import type { CertificateSource } from './certificate-source.ts';
import type { CertifiedKey } from './pki.ts';

export interface FileCertificatesOptions {
  dir: string;
  pollIntervalMs: number;
  /**
   * Publishes the CA bundle (ca.crt, or undefined without one) to the webhook
   * configuration: at start, and whenever ca.crt changes.
   */
  publishCaBundle: (bundle: string | undefined) => Promise<void>;
  logger: Logger;
  metrics: Metrics;
}

export class FileCertificates implements CertificateSource {
  readonly #options: FileCertificatesOptions;
  readonly #listeners: (() => void)[] = [];
  #current: CertifiedKey | undefined;
  #caBundle: string | undefined;
  #published = false;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: FileCertificatesOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.reload();
    const reload = (): void => {
      this.reload().catch((error: unknown) => {
        this.#options.logger.error(
          { err: String(error), dir: this.#options.dir },
          'could not reload certificates; serving the previous ones',
        );
      });
    };
    this.#watcher = watch(this.#options.dir, reload);
    this.#timer = setInterval(reload, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#timer);
  }

  current(): CertifiedKey {
    if (!this.#current) throw new Error(`no certificate loaded from ${this.#options.dir}`);
    return this.#current;
  }

  /** ca.crt if the directory has one; otherwise something else (cert-manager's CA injector) keeps the bundle. */
  caBundle(): string | undefined {
    return this.#caBundle;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  healthy(): boolean {
    return this.#current !== undefined && new Date(new X509Certificate(this.#current.certificate).validTo) > new Date();
  }

  /** Loads the files; keeps the previous pair if the new one is incomplete or invalid. */
  async reload(): Promise<void> {
    const { dir } = this.#options;
    const [certificate, privateKey, caBundle] = await Promise.all([
      readFile(join(dir, 'tls.crt'), 'utf8'),
      readFile(join(dir, 'tls.key'), 'utf8'),
      readFile(join(dir, 'ca.crt'), 'utf8').catch(() => undefined),
    ]);
    if (!this.#published || caBundle !== this.#caBundle) {
      // Trust first: a renewed CA must be in the bundle before a certificate it signs is served.
      await this.#options.publishCaBundle(caBundle);
      this.#published = true;
      if (this.#caBundle !== undefined)
        this.#options.logger.info({ dir }, 'published the changed ca.crt to the webhook configuration');
    }
    this.#caBundle = caBundle;
    if (certificate === this.#current?.certificate && privateKey === this.#current.privateKey) return;
    validPair(certificate, privateKey, dir);
    this.#current = { certificate, privateKey };
    this.#options.metrics.certificateExpiry.set(new Date(new X509Certificate(certificate).validTo).getTime() / 1000);
    this.#options.logger.info({ dir }, 'loaded webhook certificate from files');
    for (const listener of this.#listeners) listener();
  }
}

/** Throws unless the key matches the certificate (files may be caught mid-update). */
function validPair(certificate: string, privateKey: string, dir: string): SecureContext {
  try {
    return createSecureContext({ cert: certificate, key: privateKey });
  } catch (error) {
    throw new Error(`${dir}/tls.crt and tls.key do not form a valid pair: ${String(error)}`, { cause: error });
  }
}
