// The CA that signs the API server's client certificate for webhooks
// (--client-ca-file): when set, the webhook serves only clients that present a
// certificate it signed, and optionally only certain names (--client-names).
// The file is re-read on every check, so the CA can be rotated without a restart.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

export interface ClientAuthorityOptions {
  file: string;
  /** Accepted subject common names or DNS SANs; empty accepts any certificate the CA signed. */
  names: readonly string[];
  pollIntervalMs: number;
  logger: Logger;
}

export class ClientAuthority {
  readonly #options: ClientAuthorityOptions;
  readonly #listeners: (() => void)[] = [];
  #pem = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ClientAuthorityOptions) {
    this.#options = options;
  }

  /** Loads the CA; throws saying what is wrong with the file. */
  async start(): Promise<void> {
    this.#pem = await this.#load();
    this.#timer = setInterval(() => {
      this.#load()
        .then((pem) => {
          if (pem === this.#pem) return;
          this.#pem = pem;
          this.#options.logger.info({ file: this.#options.file }, 'serving with a changed client CA');
          for (const listener of this.#listeners) listener();
        })
        .catch((error: unknown) => {
          this.#options.logger.error(
            { err: String(error) },
            'could not reload the client CA; keeping the previous one',
          );
        });
    }, this.#options.pollIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  get pem(): string {
    return this.#pem;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Undefined when a verified client certificate's names are accepted; else why not. */
  refusal(certificate: { subject?: { CN?: string | string[] }; subjectaltname?: string }): string | undefined {
    const { names } = this.#options;
    if (names.length === 0) return undefined;
    const common = [certificate.subject?.CN ?? []].flat();
    const dns = (certificate.subjectaltname ?? '')
      .split(', ')
      .flatMap((san) => (san.startsWith('DNS:') ? [san.slice(4)] : []));
    if ([...common, ...dns].some((name) => names.includes(name))) return undefined;
    return `client certificate for ${common.join(',') || '(no common name)'} is not one of --client-names`;
  }

  async #load(): Promise<string> {
    const pem = await readFile(this.#options.file, 'utf8');
    try {
      new X509Certificate(pem);
    } catch (error) {
      throw new Error(`--client-ca-file ${this.#options.file} holds no PEM certificate: ${(error as Error).message}`, {
        cause: error,
      });
    }
    return pem;
  }
}
