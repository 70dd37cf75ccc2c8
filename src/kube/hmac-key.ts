// The installation's Secret-digest key: 32 random bytes in the Secret
// confighash-hmac-key in confighash's own namespace. Created on first start if
// absent, by whichever replica gets there first; never rotated implicitly, since a
// new key would change every Secret digest and so roll every workload.
import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { HMAC_KEY_SECRET } from '../checksum/index.ts';
import { describeApiError, isConflict, isNotFound } from './errors.ts';

const DATA_KEY = 'key';
const KEY_BYTES = 32;

/** Reads the key, creating it if absent; safe when several replicas start at once. */
export async function loadOrCreateHmacKey(core: CoreV1Api, namespace: string): Promise<Buffer> {
  const existing = await readKey(core, namespace);
  if (existing) return existing;
  try {
    await core.createNamespacedSecret({ namespace, body: newKeySecret(), fieldManager: 'confighash' });
  } catch (error) {
    // Another replica created it first: use theirs.
    if (!isConflict(error)) {
      throw new Error(describeApiError(`create secret ${namespace}/${HMAC_KEY_SECRET}`, error), { cause: error });
    }
  }
  const created = await readKey(core, namespace);
  if (!created) throw new Error(`secret ${namespace}/${HMAC_KEY_SECRET} vanished right after it was created`);
  return created;
}

/** Reads the key, for tools that compute digests but must not create it (status, explain). */
export async function loadHmacKey(core: CoreV1Api, namespace: string): Promise<Buffer> {
  const key = await readKey(core, namespace);
  if (!key) {
    throw new Error(`secret ${namespace}/${HMAC_KEY_SECRET} does not exist: is confighash installed in namespace ${namespace}?`);
  }
  return key;
}

async function readKey(core: CoreV1Api, namespace: string): Promise<Buffer | undefined> {
  let secret: V1Secret;
  try {
    secret = await core.readNamespacedSecret({ name: HMAC_KEY_SECRET, namespace });
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw new Error(describeApiError(`read secret ${namespace}/${HMAC_KEY_SECRET}`, error), { cause: error });
  }
  const key = Buffer.from(secret.data?.[DATA_KEY] ?? '', 'base64');
  if (key.length < KEY_BYTES) {
    throw new Error(
      `secret ${namespace}/${HMAC_KEY_SECRET} has no ${KEY_BYTES}-byte "${DATA_KEY}"; ` +
        'delete it to have a new key generated (this rolls every workload consuming a Secret)',
    );
  }
  return key;
}

function newKeySecret(): V1Secret {
  return {
    metadata: {
      name: HMAC_KEY_SECRET,
      labels: { 'app.kubernetes.io/name': 'confighash', 'app.kubernetes.io/component': 'hmac-key' },
    },
    type: 'Opaque',
    data: { [DATA_KEY]: randomBytes(KEY_BYTES).toString('base64') },
  };
}
