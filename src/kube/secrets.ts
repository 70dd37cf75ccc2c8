// The Secrets confighash owns (its HMAC key, its webhook TLS), read and written
// as raw JSON requests: `confighash run` loads no generated API client (see
// kube/client-node.ts for why).
import type { KubeConfig, V1Secret } from '@kubernetes/client-node';
import { isNotFound } from './errors.ts';
import { apiPath, requestJson } from './raw.ts';

const REQUEST_TIMEOUT_MS = 10_000;

export interface SecretStore {
  /** The Secret, or undefined when there is none of that name. */
  read(namespace: string, name: string): Promise<V1Secret | undefined>;
  create(namespace: string, body: V1Secret): Promise<void>;
  /** Replaces the Secret `body.metadata.name`; a 409 if its resourceVersion is no longer current. */
  replace(namespace: string, body: V1Secret): Promise<void>;
}

export function apiSecretStore(config: KubeConfig): SecretStore {
  const collection = (namespace: string): string => apiPath('/api/v1', 'namespaces', namespace, 'secrets');
  const query = { fieldManager: 'confighash' };
  return {
    async read(namespace, name) {
      try {
        return await requestJson<V1Secret>(config, {
          method: 'GET',
          path: apiPath(collection(namespace), name),
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    async create(namespace, body) {
      await requestJson(config, {
        method: 'POST',
        path: collection(namespace),
        query,
        body,
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    },
    async replace(namespace, body) {
      const path = apiPath(collection(namespace), body.metadata?.name ?? '');
      await requestJson(config, { method: 'PUT', path, query, body, timeoutMs: REQUEST_TIMEOUT_MS });
    },
  };
}
