// The MutatingWebhookConfiguration `confighash`, kept as confighash needs it: the
// rules, the namespaceSelector of its scope, failing open, and the CA bundle when
// confighash manages TLS. confighash is the one owner of its `webhooks`: the
// install manifests create the object without them, so `kubectl apply -k` and
// `confighash run` (by Service or by --webhook-url) work in either order. Its one
// webhook is replaced whole (a merge patch replaces lists), so that switching
// between Service and URL never leaves both set; a CA bundle confighash does not
// manage (cert-manager's) is kept.
//
// Every replica watches the object and repairs it: a deleted configuration is
// created again, and one whose webhook no longer says what confighash writes is
// rewritten (log, Warning Event, confighash_self_repairs_total). Repairs of a
// changed object back off (30 s, doubling to 10 minutes), so two versions of
// confighash running side by side during an upgrade cannot fight in a loop.
import { isDeepStrictEqual } from 'node:util';
import type {
  AdmissionregistrationV1WebhookClientConfig,
  KubeConfig,
  V1MutatingWebhook,
  V1MutatingWebhookConfiguration,
} from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError, isConflict, isNotFound } from '../kube/errors.ts';
import { apiPath, requestJson } from '../kube/raw.ts';
import type { EventRecorder } from '../kube/events.ts';
import { watchNamedObject } from '../kube/named-object.ts';
import type { KubeObject, ListWatchClient, ResourceWatcher } from '../kube/watcher.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { NamespaceSelector } from '../scope/namespace-scope.ts';
import { MUTATE_PATH } from './server.ts';

export const WEBHOOK_CONFIGURATION = 'confighash';
export const WEBHOOK_NAME = 'workloads.confighash.dev';
const REQUEST_TIMEOUT_MS = 10_000;
const COLLECTION = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const REPAIR_BACKOFF_MS = { initial: 30_000, max: 600_000 };

export interface WebhookRegistration {
  /** A URL (`https://host:port/mutate`) when running outside the cluster; else the Service. */
  endpoint: { url: string } | { service: { name: string; namespace: string; port: number } };
  namespaceSelector: NamespaceSelector;
  timeoutSeconds: number;
}

export function webhookConfiguration(
  registration: WebhookRegistration,
  caBundle: string | undefined,
): V1MutatingWebhookConfiguration {
  const { endpoint } = registration;
  const clientConfig: AdmissionregistrationV1WebhookClientConfig =
    'url' in endpoint ? { url: endpoint.url } : { service: { ...endpoint.service, path: MUTATE_PATH } };
  if (caBundle) clientConfig.caBundle = Buffer.from(caBundle).toString('base64');
  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: WEBHOOK_CONFIGURATION, labels: { 'app.kubernetes.io/name': 'confighash' } },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig,
        rules: [
          {
            apiGroups: ['apps'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['deployments', 'statefulsets', 'daemonsets'],
            scope: 'Namespaced',
          },
          {
            apiGroups: ['batch'],
            apiVersions: ['v1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['cronjobs'],
            scope: 'Namespaced',
          },
          // Argo Rollouts: matches nothing until its CRD is installed.
          {
            apiGroups: ['argoproj.io'],
            apiVersions: ['v1alpha1'],
            operations: ['CREATE', 'UPDATE'],
            resources: ['rollouts'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: registration.namespaceSelector,
        failurePolicy: 'Ignore',
        sideEffects: 'None',
        timeoutSeconds: registration.timeoutSeconds,
        reinvocationPolicy: 'IfNeeded',
        matchPolicy: 'Equivalent',
        admissionReviewVersions: ['v1'],
      },
    ],
  };
}

/** What differs between the webhook confighash writes and the one the object holds; undefined when they agree. */
export function webhookDrift(
  desired: V1MutatingWebhook,
  existing: V1MutatingWebhook | undefined,
  managesBundle: boolean,
): string | undefined {
  if (!existing) return `it has no webhook ${WEBHOOK_NAME}`;
  // Replicas may briefly publish different bundles during a CA rotation; only a missing one is repaired.
  if (managesBundle && desired.clientConfig.caBundle && !existing.clientConfig.caBundle)
    return 'its CA bundle is missing';
  const fields = [
    'rules',
    'namespaceSelector',
    'failurePolicy',
    'sideEffects',
    'timeoutSeconds',
    'reinvocationPolicy',
    'admissionReviewVersions',
  ] as const;
  const changed: string[] = fields.filter((field) => !isDeepStrictEqual(desired[field], existing[field]));
  if (!isDeepStrictEqual(endpointOf(desired.clientConfig), endpointOf(existing.clientConfig)))
    changed.unshift('clientConfig');
  return changed.length > 0 ? `its ${changed.join(', ')} changed` : undefined;
}

/** Where a webhook is reached, with the API server's default port filled in. */
function endpointOf({ url, service }: AdmissionregistrationV1WebhookClientConfig): object {
  return service
    ? { name: service.name, namespace: service.namespace, path: service.path, port: service.port ?? 443 }
    : { url };
}

/** Without a bundle of its own, confighash keeps the one there (cert-manager's CA injector writes it). */
function keepUnmanagedBundle(
  desired: V1MutatingWebhookConfiguration,
  existing: V1MutatingWebhookConfiguration,
  bundle: string | undefined,
): void {
  const kept = existing.webhooks?.find((w) => w.name === WEBHOOK_NAME)?.clientConfig.caBundle;
  const [webhook] = desired.webhooks ?? [];
  if (webhook && !bundle && kept) webhook.clientConfig.caBundle = kept;
}

export interface WebhookConfigurationKeeperOptions {
  /** Reads and writes are raw JSON: what the watch delivers and what a read returns compare alike. */
  config: KubeConfig;
  listWatch: ListWatchClient;
  registration: WebhookRegistration;
  events: Pick<EventRecorder, 'record'>;
  logger: Logger;
  metrics: Metrics;
}

export class WebhookConfigurationKeeper {
  readonly #options: WebhookConfigurationKeeperOptions;
  readonly #watcher: ResourceWatcher<V1MutatingWebhookConfiguration & { metadata?: { name?: string } }>;
  /** The bundle last published; undefined until the first publish (or when not managed). */
  #bundle: { value: string | undefined } | undefined;
  #repairBackoffMs = REPAIR_BACKOFF_MS.initial;
  #nextRepairAt = 0;
  #applying: Promise<void> = Promise.resolve();

  constructor(options: WebhookConfigurationKeeperOptions) {
    this.#options = options;
    this.#watcher = watchNamedObject<V1MutatingWebhookConfiguration & KubeObject>(
      options.listWatch,
      { watcher: 'webhook-configuration', collection: COLLECTION, name: WEBHOOK_CONFIGURATION },
      (object) => {
        if (object) this.#observed(object);
        else this.#repair();
      },
      { logger: options.logger },
    );
  }

  start(): void {
    this.#watcher.start();
  }

  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  /** Writes the configuration with `bundle` (undefined: keep the one there, e.g. cert-manager's). */
  async publish(bundle: string | undefined): Promise<void> {
    this.#bundle = { value: bundle };
    await this.#apply();
  }

  #observed(object: V1MutatingWebhookConfiguration): void {
    if (!this.#bundle || !this.#drift(object)) return;
    if (Date.now() < this.#nextRepairAt) {
      this.#options.logger.warn(
        { drift: this.#drift(object) },
        'the webhook configuration differs from what this replica writes (is another version of confighash running?); repairing it later',
      );
      return;
    }
    this.#nextRepairAt = Date.now() + this.#repairBackoffMs;
    this.#repairBackoffMs = Math.min(this.#repairBackoffMs * 2, REPAIR_BACKOFF_MS.max);
    this.#repair();
  }

  /** What differs from what confighash writes, in `object`; undefined when nothing does. */
  #drift(object: V1MutatingWebhookConfiguration): string | undefined {
    const [desired] = this.#desired().webhooks ?? [];
    if (!desired) return undefined;
    return webhookDrift(
      desired,
      object.webhooks?.find((w) => w.name === WEBHOOK_NAME),
      this.#bundle?.value !== undefined,
    );
  }

  /**
   * Restores the configuration if the API server's copy still needs it (a watch
   * event can be older than confighash's own last write), once confighash has
   * published it: before that there is nothing to restore.
   */
  #repair(): void {
    if (!this.#bundle) return;
    const { logger, metrics, events } = this.#options;
    this.#apply(true)
      .then((repaired) => {
        if (!repaired) return;
        logger.error(
          { object: `mutatingwebhookconfiguration/${WEBHOOK_CONFIGURATION}`, why: repaired },
          'restored the webhook configuration',
        );
        metrics.selfRepairs.inc({ object: 'webhook-configuration' });
        events.record(
          {
            apiVersion: 'admissionregistration.k8s.io/v1',
            kind: 'MutatingWebhookConfiguration',
            namespace: '',
            name: WEBHOOK_CONFIGURATION,
            uid: '',
          },
          'Warning',
          'WebhookConfigurationRestored',
          `Restored by confighash (${repaired}); without it, workloads are admitted without checksum annotations.`,
        );
      })
      .catch((error: unknown) => {
        logger.error(
          { err: (error as Error).message },
          'could not restore the webhook configuration; retrying on the next watch event',
        );
      });
  }

  #desired(): V1MutatingWebhookConfiguration {
    return webhookConfiguration(this.#options.registration, this.#bundle?.value);
  }

  /** One write at a time, in order. */
  #apply(onlyIfNeeded = false): Promise<string | undefined> {
    const write = this.#applying.catch(() => undefined).then(() => this.#write(onlyIfNeeded));
    this.#applying = write.then(() => undefined);
    return write;
  }

  /**
   * Creates the configuration if absent, else patches it, keeping a CA bundle
   * confighash does not manage. With `onlyIfNeeded`, writes only what differs;
   * says what was wrong, or undefined when nothing was written.
   */
  async #write(onlyIfNeeded: boolean): Promise<string | undefined> {
    const { config } = this.#options;
    const desired = this.#desired();
    const path = apiPath(COLLECTION, WEBHOOK_CONFIGURATION);
    try {
      let existing: V1MutatingWebhookConfiguration;
      try {
        existing = await requestJson<V1MutatingWebhookConfiguration>(config, {
          method: 'GET',
          path,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        return (await this.#create(desired)) ? 'it did not exist' : undefined;
      }
      const drift = this.#drift(existing) ?? (onlyIfNeeded ? undefined : 'published');
      if (!drift) return undefined;
      keepUnmanagedBundle(desired, existing, this.#bundle?.value);
      await requestJson(config, {
        method: 'PATCH',
        path,
        query: { fieldManager: 'confighash' },
        body: { metadata: desired.metadata, webhooks: desired.webhooks },
        contentType: 'application/merge-patch+json',
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      return drift;
    } catch (error) {
      throw new Error(describeApiError(`apply mutatingwebhookconfiguration ${WEBHOOK_CONFIGURATION}`, error), {
        cause: error,
      });
    }
  }

  /** False when another replica created it first (its watch event brings it here). */
  async #create(desired: V1MutatingWebhookConfiguration): Promise<boolean> {
    try {
      await requestJson(this.#options.config, {
        method: 'POST',
        path: COLLECTION,
        query: { fieldManager: 'confighash' },
        body: desired,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
      return true;
    } catch (error) {
      if (!isConflict(error)) throw error;
      return false;
    }
  }
}
