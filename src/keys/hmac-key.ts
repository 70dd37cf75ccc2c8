// Custody of the installation's HMAC keys, kept in the Secret confighash-hmac-key
// in confighash's own namespace:
//   data.key              the first key: digests values (never exposed), and
//                         signs stamps until the first rotation
//   data.key-<id>         keys added by `confighash rotate-key`
//   annotation confighash.dev/signing-key: <id>   the key that signs new stamps
// Created on first start if absent, by whichever replica gets there first. Every
// replica watches it: a rotation reaches all of them within a watch event, and a
// deleted or damaged Secret is restored from memory (a new key would change
// every Secret digest). Rotation adds a key and never rolls a workload: each
// stamp names its key, and is verified with it until the workload rolls for
// another reason.
import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { HMAC_KEY_SECRET, HmacKeyring, type KeyMaterial, keyId, MIN_KEY_BYTES } from '../checksum/index.ts';
import type { Metrics } from '../telemetry/metrics.ts';
import type { SecretStore } from '../kube/secrets.ts';
import { describeApiError, isConflict } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { apiPath } from '../kube/raw.ts';
import { watchNamedObject } from '../kube/named-object.ts';
import type { KubeObject, ListWatchClient, ResourceWatcher } from '../kube/watcher.ts';

const VALUE_KEY = 'key';
const ADDED_KEY_PREFIX = 'key-';
export const SIGNING_KEY_ANNOTATION = 'confighash.dev/signing-key';

/** The key material a Secret holds; throws, saying what is wrong, when it holds none that is usable. */
export function keyMaterial(secret: V1Secret): KeyMaterial {
  const where = `secret ${secret.metadata?.namespace ?? ''}/${HMAC_KEY_SECRET}`;
  const data = secret.data ?? {};
  const valueKey = Buffer.from(data[VALUE_KEY] ?? '', 'base64');
  if (valueKey.length < MIN_KEY_BYTES) throw new Error(`${where} has no ${MIN_KEY_BYTES}-byte "${VALUE_KEY}"`);
  const keys = Object.entries(data)
    .filter(([name]) => name.startsWith(ADDED_KEY_PREFIX))
    .map(([, value]) => Buffer.from(value, 'base64'))
    .filter((key) => key.length >= MIN_KEY_BYTES);
  const signingId = secret.metadata?.annotations?.[SIGNING_KEY_ANNOTATION] ?? keyId(valueKey);
  if (![valueKey, ...keys].some((key) => keyId(key) === signingId))
    throw new Error(`${where}: signing key ${signingId} is not among its keys`);
  return { valueKey, keys, signingId };
}

/** The Secret that holds `material`. */
export function keySecret(material: KeyMaterial, resourceVersion?: string): V1Secret {
  const data: Record<string, string> = { [VALUE_KEY]: material.valueKey.toString('base64') };
  for (const key of material.keys) data[`${ADDED_KEY_PREFIX}${keyId(key)}`] = key.toString('base64');
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: HMAC_KEY_SECRET,
      ...(resourceVersion ? { resourceVersion } : {}),
      labels: { 'app.kubernetes.io/name': 'confighash', 'app.kubernetes.io/component': 'hmac-key' },
      annotations: { [SIGNING_KEY_ANNOTATION]: material.signingId },
    },
    type: 'Opaque',
    data,
  };
}

/**
 * Reads the keys, creating the Secret if absent; safe when several replicas start at
 * once. `installedAt`: the Secret's creation, which is when this installation began.
 */
export async function loadOrCreateKeys(
  secrets: SecretStore,
  namespace: string,
): Promise<{ material: KeyMaterial; installedAt: number | undefined }> {
  const existing = await readSecret(secrets, namespace);
  if (existing) return loaded(existing);
  const valueKey = randomBytes(MIN_KEY_BYTES);
  try {
    await secrets.create(namespace, keySecret({ valueKey, keys: [], signingId: keyId(valueKey) }));
  } catch (error) {
    if (!isConflict(error))
      throw new Error(describeApiError(`create secret ${namespace}/${HMAC_KEY_SECRET}`, error), { cause: error });
  }
  const created = await readSecret(secrets, namespace);
  if (!created) throw new Error(`secret ${namespace}/${HMAC_KEY_SECRET} vanished right after it was created`);
  return loaded(created);
}

function loaded(secret: V1Secret): { material: KeyMaterial; installedAt: number | undefined } {
  // Raw JSON: the timestamp is the API server's RFC 3339 string.
  const installedAt = Date.parse(String(secret.metadata?.creationTimestamp ?? ''));
  return { material: keyMaterial(secret), installedAt: Number.isNaN(installedAt) ? undefined : installedAt };
}

/** Reads the keys, for tools that compute digests but must not create them (status, explain). */
export async function loadKeyring(secrets: SecretStore, namespace: string): Promise<HmacKeyring> {
  const secret = await readSecret(secrets, namespace);
  if (!secret)
    throw new Error(
      `secret ${namespace}/${HMAC_KEY_SECRET} does not exist: is confighash installed in namespace ${namespace}?`,
    );
  return new HmacKeyring(keyMaterial(secret));
}

/** Adds a new signing key (`confighash rotate-key`); returns its id. Workloads roll on their next change only. */
export async function rotateKey(secrets: SecretStore, namespace: string): Promise<string> {
  const secret = await readSecret(secrets, namespace);
  if (!secret)
    throw new Error(
      `secret ${namespace}/${HMAC_KEY_SECRET} does not exist: is confighash installed in namespace ${namespace}?`,
    );
  const material = keyMaterial(secret);
  const next = randomBytes(MIN_KEY_BYTES);
  const body = keySecret(
    { valueKey: material.valueKey, keys: [...material.keys, next], signingId: keyId(next) },
    secret.metadata?.resourceVersion,
  );
  try {
    await secrets.replace(namespace, body);
  } catch (error) {
    throw new Error(describeApiError(`rotate the key in secret ${namespace}/${HMAC_KEY_SECRET}`, error), {
      cause: error,
    });
  }
  return keyId(next);
}

async function readSecret(secrets: SecretStore, namespace: string): Promise<V1Secret | undefined> {
  try {
    return await secrets.read(namespace, HMAC_KEY_SECRET);
  } catch (error) {
    throw new Error(describeApiError(`read secret ${namespace}/${HMAC_KEY_SECRET}`, error), { cause: error });
  }
}

export interface KeyCustodianOptions {
  secrets: SecretStore;
  listWatch: ListWatchClient;
  namespace: string;
  keyring: HmacKeyring;
  events: Pick<EventRecorder, 'record'>;
  logger: Logger;
  metrics: Metrics;
}

/** Keeps the keyring and the Secret in step: rotations flow in, deletions and damage are repaired. */
export class KeyCustodian {
  readonly #options: KeyCustodianOptions;
  readonly #watcher: ResourceWatcher<V1Secret & { metadata?: { name?: string } }>;
  /** What this replica knows: every key it has seen, so a key removed by mistake can still be put back. */
  #material: KeyMaterial;

  constructor(options: KeyCustodianOptions) {
    this.#options = options;
    const { keyring } = options;
    this.#material = { valueKey: Buffer.alloc(0), keys: [], signingId: keyring.signingId };
    this.#watcher = watchNamedObject<V1Secret & KubeObject>(
      options.listWatch,
      {
        watcher: 'hmac-key',
        collection: apiPath('/api/v1', 'namespaces', options.namespace, 'secrets'),
        name: HMAC_KEY_SECRET,
      },
      (secret) => void (secret ? this.#observed(secret) : this.#restore('deleted')),
      { logger: options.logger },
    );
  }

  /** Starts watching; `material` is what the keyring was loaded from. */
  start(material: KeyMaterial): void {
    this.#material = material;
    this.#watcher.start();
  }

  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  async #observed(secret: V1Secret): Promise<void> {
    let material: KeyMaterial;
    try {
      material = keyMaterial(secret);
      this.#options.keyring.update(material);
    } catch (error) {
      return this.#restore((error as Error).message, secret.metadata?.resourceVersion);
    }
    if (material.signingId !== this.#material.signingId) {
      this.#options.logger.info(
        { from: this.#material.signingId, to: material.signingId },
        'new stamps are signed with a new HMAC key',
      );
    }
    this.#material = material;
  }

  /** Writes back what this replica holds; a conflict means another replica (or the operator) wrote first. */
  async #restore(why: string, resourceVersion?: string): Promise<void> {
    const { secrets, namespace, logger, metrics, events } = this.#options;
    logger.error({ secret: `${namespace}/${HMAC_KEY_SECRET}`, why }, 'restoring the HMAC key Secret from memory');
    metrics.selfRepairs.inc({ object: 'hmac-key' });
    const body = keySecret(this.#material, resourceVersion);
    try {
      if (resourceVersion) await secrets.replace(namespace, body);
      else await secrets.create(namespace, body);
    } catch (error) {
      if (!isConflict(error))
        logger.error(
          { err: describeApiError(`restore secret ${namespace}/${HMAC_KEY_SECRET}`, error) },
          'could not restore the HMAC key Secret; retrying on the next watch event',
        );
      return;
    }
    events.record(
      { apiVersion: 'v1', kind: 'Secret', namespace, name: HMAC_KEY_SECRET, uid: '' },
      'Warning',
      'KeyRestored',
      `Restored from memory (${why}). To rotate the key, run "confighash rotate-key"; deleting the Secret does not rotate it.`,
    );
  }
}
