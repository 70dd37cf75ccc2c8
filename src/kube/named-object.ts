// One object watched by name, in the manner of kube-rs' `watch_object`: the owner
// hears of each version of it, and of its absence (deleted, or not there when a
// list found nothing), never of a list's bookkeeping. confighash keeps several
// objects this way: its HMAC key, its TLS Secret, its webhook configuration, the
// notification settings, an optional kind's CustomResourceDefinition.
import type { Logger } from 'pino';
import { type KubeObject, type ListWatchClient, ResourceWatcher } from './watcher.ts';

export interface NamedObject {
  /** For logs and metrics, e.g. `hmac-key`. */
  watcher: string;
  /** The collection it is in, e.g. `/api/v1/namespaces/confighash/secrets`. */
  collection: string;
  /** The namespace `collection` lists, when it lists one. */
  namespace?: string;
  name: string;
}

export interface NamedObjectOptions {
  logger: Logger;
  /** How often it is listed again while its watch runs (default 10 minutes). */
  relistIntervalMs?: number;
}

const RELIST_INTERVAL_MS = 10 * 60_000;

/** A watcher of `object` that calls `onChange` with each version of it, and with undefined when there is none. */
export function watchNamedObject<T extends KubeObject>(
  client: ListWatchClient,
  object: NamedObject,
  onChange: (current: T | undefined) => void,
  options: NamedObjectOptions,
): ResourceWatcher<T> {
  const { watcher, collection, namespace, name } = object;
  return new ResourceWatcher<T>(
    client,
    {
      name: watcher,
      path: collection,
      ...(namespace === undefined ? {} : { namespace }),
      pageSize: 1,
      fieldSelector: `metadata.name=${name}`,
    },
    {
      upsert: (current) => {
        onChange(current);
      },
      remove: () => {
        onChange(undefined);
      },
      prune: (seen) => {
        if (seen.size === 0) onChange(undefined);
      },
    },
    {
      relistIntervalMs: options.relistIntervalMs ?? RELIST_INTERVAL_MS,
      onRestart: () => undefined,
      logger: options.logger,
    },
  );
}
