// Self-managed webhook TLS (the default): a CA and serving certificate generated
// with node-forge and kept in the Secret confighash-webhook-tls, so every replica
// serves from the same CA; the CA bundle is published (to the webhook
// configuration) before any certificate it signs is served; certificates are
// renewed well before expiry and swapped into the running server. The Secret is
// watched: deleted, it is restored from memory at once (the same CA, so the
// published bundle stays valid); unusable, it is replaced with a new CA.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { SecretStore } from '../kube/secrets.ts';
import { describeApiError, isConflict } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { apiPath } from '../kube/raw.ts';
import { watchNamedObject } from '../kube/named-object.ts';
import type { ListWatchClient, ResourceWatcher } from '../kube/watcher.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { CertificateSource } from './certificate-source.ts';
import type { CertifiedKey } from './pki.ts';
import {
  bundleCertificates,
  makeBundle,
  nextRotationStep,
  type RotationPolicy,
  type RotationStep,
  type TlsState,
} from './rotation.ts';

export const TLS_SECRET = 'confighash-webhook-tls';
const NEXT_CA_SINCE = 'confighash.dev/next-ca-since';
const MAX_STEPS = 6;
const MAX_ATTEMPTS = 5;

export interface SelfManagedOptions {
  secrets: SecretStore;
  listWatch: ListWatchClient;
  namespace: string;
  policy: RotationPolicy;
  /** How often to check for renewal, here or by another replica. */
  checkIntervalMs: number;
  /** Makes the apiserver trust `bundle`; called before a certificate it signs is served. */
  publishCaBundle: (bundle: string) => Promise<void>;
  events: Pick<EventRecorder, 'record'>;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

export class SelfManagedCertificates implements CertificateSource {
  readonly #options: SelfManagedOptions;
  readonly #now: () => Date;
  readonly #listeners: (() => void)[] = [];
  #served: TlsState | undefined;
  #published: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #watcher: ResourceWatcher<V1Secret & { metadata?: { name?: string } }> | undefined;
  #reconciling: Promise<void> = Promise.resolve();

  constructor(options: SelfManagedOptions) {
    this.#options = options;
    this.#now = options.now ?? ((): Date => new Date());
  }

  async start(): Promise<void> {
    await this.reconcile();
    this.#timer = setInterval(() => {
      this.#check();
    }, this.#options.checkIntervalMs);
    this.#timer.unref();
    this.#watcher = this.#watchSecret();
    this.#watcher.start();
  }

  stop(): void {
    clearInterval(this.#timer);
    void this.#watcher?.stop();
  }

  /** A check now, after any in progress. */
  #check(): void {
    this.#reconciling = this.#reconciling
      .then(() => this.reconcile())
      .catch((error: unknown) => {
        this.#options.logger.error({ err: String(error) }, 'webhook certificate check failed; retrying at next check');
      });
  }

  /** Any change of the Secret (a deletion above all) is checked at once, not at the next interval. */
  #watchSecret(): ResourceWatcher<V1Secret & { metadata?: { name?: string } }> {
    const { listWatch, namespace, logger } = this.#options;
    return watchNamedObject(
      listWatch,
      { watcher: 'webhook-tls', collection: apiPath('/api/v1', 'namespaces', namespace, 'secrets'), name: TLS_SECRET },
      () => {
        this.#check();
      },
      { logger },
    );
  }

  current(): CertifiedKey {
    if (!this.#served) throw new Error('self-managed certificates were not started');
    return this.#served.serving;
  }

  caBundle(): string | undefined {
    return this.#served?.bundle;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  healthy(): boolean {
    if (!this.#served) return false;
    return new Date(new X509Certificate(this.#served.serving.certificate).validTo) > this.#now();
  }

  /** Brings the Secret up to date (renewing what is due) and serves what it holds. */
  async reconcile(): Promise<void> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { state, secret } = await this.#read();
      const next = await this.#rotate(state);
      // On a conflict another replica renewed first: start over from what it wrote.
      if ((next !== state || !secret) && !(await this.#write(next, secret))) continue;
      if (next) await this.#adopt(next);
      return;
    }
    throw new Error(
      `secret ${this.#options.namespace}/${TLS_SECRET} kept changing; gave up after ${MAX_ATTEMPTS} attempts`,
    );
  }

  /** Applies rotation steps until none is due; returns `state` itself when none was. */
  async #rotate(state: TlsState | undefined): Promise<TlsState | undefined> {
    let current = state;
    for (let i = 0; i < MAX_STEPS; i++) {
      const step = nextRotationStep(current, this.#options.policy, this.#now());
      if (step.kind === 'none') return current;
      this.#options.logger.info(
        { step: step.kind, ...('reason' in step ? { reason: step.reason } : {}) },
        'renewing webhook TLS',
      );
      current = await this.#apply(step, current);
    }
    throw new Error('webhook TLS rotation did not settle; check the clock and the --tls-* durations');
  }

  async #apply(step: RotationStep, state: TlsState | undefined): Promise<TlsState> {
    const now = this.#now();
    if (step.kind === 'create' || !state) {
      const ca = await this.#newCa(now);
      return { ca, serving: await this.#issue(ca, now), bundle: makeBundle([ca.certificate], now) };
    }
    switch (step.kind) {
      case 'add-next-ca': {
        const nextCa = await this.#newCa(now);
        const bundle = makeBundle([...bundleCertificates(state.bundle), nextCa.certificate], now);
        return { ...state, nextCa, nextCaSince: now, bundle };
      }
      case 'promote-next-ca': {
        const ca = state.nextCa ?? (await this.#newCa(now));
        const bundle = makeBundle([ca.certificate, ...bundleCertificates(state.bundle)], now);
        return { ca, serving: await this.#issue(ca, now), bundle };
      }
      case 'renew-serving':
        return { ...state, serving: await this.#issue(state.ca, now) };
      default:
        return { ...state, bundle: makeBundle([state.ca.certificate, ...bundleCertificates(state.bundle)], now) };
    }
  }

  async #newCa(now: Date): Promise<CertifiedKey> {
    this.#options.metrics.certificateRotations.inc({ what: 'ca' });
    const { createCertificateAuthority } = await issuing();
    return createCertificateAuthority('confighash-webhook-ca', this.#options.policy.caValidityMs, now);
  }

  async #issue(ca: CertifiedKey, now: Date): Promise<CertifiedKey> {
    const { policy, metrics } = this.#options;
    metrics.certificateRotations.inc({ what: 'serving' });
    const { issueCertificate } = await issuing();
    return issueCertificate(
      ca,
      {
        commonName: policy.dnsNames[0] ?? policy.ipAddresses[0] ?? 'confighash',
        dnsNames: policy.dnsNames,
        ipAddresses: policy.ipAddresses,
        usage: 'server',
        validityMs: policy.servingValidityMs,
      },
      now,
    );
  }

  /** Publishes the bundle first, then serves the certificate. */
  async #adopt(state: TlsState): Promise<void> {
    if (state.bundle !== this.#published) {
      await this.#options.publishCaBundle(state.bundle);
      this.#published = state.bundle;
    }
    const renewed = state.serving.certificate !== this.#served?.serving.certificate;
    // All of it is kept, next CA included: it is what a deleted Secret is restored from.
    this.#served = state;
    if (!renewed) return;
    this.#options.metrics.certificateExpiry.set(
      new Date(new X509Certificate(state.serving.certificate).validTo).getTime() / 1000,
    );
    for (const listener of this.#listeners) listener();
  }

  /** What the Secret holds; a Secret that cannot be used counts as empty, so it is replaced. */
  async #read(): Promise<{ state: TlsState | undefined; secret: V1Secret | undefined }> {
    const { secrets, namespace } = this.#options;
    let secret: V1Secret | undefined;
    try {
      secret = await secrets.read(namespace, TLS_SECRET);
    } catch (error) {
      throw new Error(describeApiError(`read secret ${namespace}/${TLS_SECRET}`, error), { cause: error });
    }
    if (!secret) {
      if (this.#served) this.#restoring();
      return { state: this.#served, secret: undefined };
    }
    try {
      return { state: usable(fromSecret(secret)), secret };
    } catch (error) {
      this.#replacing(secret, (error as Error).message);
      return { state: undefined, secret };
    }
  }

  /** The Secret is gone while this replica serves from it: it is written back as it was. */
  #restoring(): void {
    const { namespace, logger, metrics, events } = this.#options;
    logger.error(
      { secret: `${namespace}/${TLS_SECRET}` },
      'the webhook TLS Secret was deleted; restoring it from memory',
    );
    metrics.selfRepairs.inc({ object: 'webhook-tls' });
    events.record(
      { apiVersion: 'v1', kind: 'Secret', namespace, name: TLS_SECRET, uid: '' },
      'Warning',
      'CertificateRestored',
      'The Secret was deleted; confighash restored it from memory (the same CA and certificate, so nothing is re-trusted).',
    );
  }

  #replacing(secret: V1Secret, why: string): void {
    const { namespace, logger, metrics, events } = this.#options;
    logger.error(
      { secret: `${namespace}/${TLS_SECRET}`, why },
      'the webhook TLS Secret cannot be used; replacing it with a new CA and certificate',
    );
    metrics.selfRepairs.inc({ object: 'webhook-tls' });
    events.record(
      { apiVersion: 'v1', kind: 'Secret', namespace, name: TLS_SECRET, uid: secret.metadata?.uid ?? '' },
      'Warning',
      'CertificateReplaced',
      `The Secret could not be used (${why}); confighash replaced it with a new CA and serving certificate.`,
    );
  }

  /**
   * Creates the Secret, or replaces it if unchanged since `previous` was read;
   * false when it had changed (a conflict).
   */
  async #write(state: TlsState | undefined, previous: V1Secret | undefined): Promise<boolean> {
    if (!state) return true;
    const { secrets, namespace } = this.#options;
    const body = toSecret(state, previous?.metadata?.resourceVersion);
    try {
      if (previous) await secrets.replace(namespace, body);
      else await secrets.create(namespace, body);
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw new Error(describeApiError(`write secret ${namespace}/${TLS_SECRET}`, error), { cause: error });
    }
  }
}

const KEYS = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  bundle: 'ca-bundle.crt',
  nextCaCert: 'next-ca.crt',
  nextCaKey: 'next-ca.key',
} as const;

function fromSecret(secret: V1Secret): TlsState | undefined {
  const data = secret.data ?? {};
  const pair = (certKey: string, keyKey: string): CertifiedKey | undefined => {
    const [certificate, privateKey] = [data[certKey], data[keyKey]];
    if (!certificate || !privateKey) return undefined;
    return { certificate: fromBase64(certificate), privateKey: fromBase64(privateKey) };
  };
  const ca = pair(KEYS.caCert, KEYS.caKey);
  const serving = pair(KEYS.cert, KEYS.key);
  if (!ca || !serving) return undefined;
  const storedBundle = data[KEYS.bundle];
  const bundle = storedBundle ? fromBase64(storedBundle) : ca.certificate;
  const nextCa = pair(KEYS.nextCaCert, KEYS.nextCaKey);
  const since = secret.metadata?.annotations?.[NEXT_CA_SINCE];
  return nextCa && since ? { ca, serving, bundle, nextCa, nextCaSince: new Date(since) } : { ca, serving, bundle };
}

/** `state` if every certificate parses and every key matches its certificate; else throws saying what is wrong. */
function usable(state: TlsState | undefined): TlsState | undefined {
  if (!state) return undefined;
  const pairs: [string, { certificate: string; privateKey: string } | undefined][] = [
    ['CA', state.ca],
    ['serving certificate', state.serving],
    ['next CA', state.nextCa],
  ];
  for (const [what, pair] of pairs) {
    if (!pair) continue;
    try {
      if (!new X509Certificate(pair.certificate).checkPrivateKey(createPrivateKey(pair.privateKey)))
        throw new Error('the key does not match the certificate');
    } catch (error) {
      throw new Error(`its ${what} is unusable: ${(error as Error).message}`, { cause: error });
    }
  }
  const bundle = bundleCertificates(state.bundle);
  if (bundle.length === 0) throw new Error('its CA bundle holds no certificate');
  try {
    for (const pem of bundle) new X509Certificate(pem);
  } catch (error) {
    throw new Error(`its CA bundle is unusable: ${(error as Error).message}`, { cause: error });
  }
  return state;
}

function fromBase64(value: string): string {
  return Buffer.from(value, 'base64').toString('utf8');
}

function toSecret(state: TlsState, resourceVersion: string | undefined): V1Secret {
  const data: Record<string, string> = {
    [KEYS.caCert]: state.ca.certificate,
    [KEYS.caKey]: state.ca.privateKey,
    [KEYS.cert]: state.serving.certificate,
    [KEYS.key]: state.serving.privateKey,
    [KEYS.bundle]: state.bundle,
  };
  if (state.nextCa) {
    data[KEYS.nextCaCert] = state.nextCa.certificate;
    data[KEYS.nextCaKey] = state.nextCa.privateKey;
  }
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: TLS_SECRET,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { 'app.kubernetes.io/name': 'confighash', 'app.kubernetes.io/component': 'webhook-tls' },
      ...(state.nextCaSince ? { annotations: { [NEXT_CA_SINCE]: state.nextCaSince.toISOString() } } : {}),
    },
    type: 'kubernetes.io/tls',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}

/**
 * node-forge, loaded only when a certificate is issued: a running replica that
 * reads its certificates (the usual case) keeps its 2.6 MiB out of memory.
 */
function issuing(): Promise<typeof import('./pki.ts')> {
  return import('./pki.ts');
}
