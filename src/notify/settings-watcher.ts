// Keeps the notifier's sinks as the Secret confighash-notifications says
// (settings.ts), as it changes: created, edited, deleted (no sinks). A document
// that is not YAML keeps the sinks as they were; a wrong sink is left out. Both
// are logged and told on the Secret as a Warning Event, without quoting it.
import type { V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { EventRecorder } from '../kube/events.ts';
import { apiPath } from '../kube/raw.ts';
import { watchNamedObject } from '../kube/named-object.ts';
import type { ListWatchClient, ResourceWatcher } from '../kube/watcher.ts';
import type { Notifier } from './notifier.ts';
import { NOTIFICATIONS_KEY, NOTIFICATIONS_SECRET, parseNotificationSettings } from './settings.ts';

export interface SettingsWatcherOptions {
  listWatch: ListWatchClient;
  /** confighash's namespace, where the Secret is. */
  namespace: string;
  notifier: Pick<Notifier, 'configure'>;
  events: Pick<EventRecorder, 'record'>;
  logger: Logger;
}

export class NotificationSettingsWatcher {
  readonly #options: SettingsWatcherOptions;
  readonly #watcher: ResourceWatcher<V1Secret>;
  /** The Secret version last applied: a relist of the same one changes nothing. */
  #applied: string | undefined;

  constructor(options: SettingsWatcherOptions) {
    this.#options = options;
    this.#watcher = watchNamedObject<V1Secret>(
      options.listWatch,
      {
        watcher: 'notifications',
        collection: apiPath('/api/v1', 'namespaces', options.namespace, 'secrets'),
        namespace: options.namespace,
        name: NOTIFICATIONS_SECRET,
      },
      (secret) => {
        if (secret) this.#apply(secret);
        else this.#clear();
      },
      { logger: options.logger },
    );
  }

  start(): void {
    this.#watcher.start();
  }

  /** Resolves once the Secret has been looked for (and its sinks configured, if it exists). */
  whenSynced(): Promise<undefined> {
    return this.#watcher.whenSynced();
  }

  stop(): Promise<void> {
    return this.#watcher.stop();
  }

  #apply(secret: V1Secret): void {
    const version = secret.metadata?.resourceVersion;
    if (version !== undefined && version === this.#applied) return;
    this.#applied = version;
    const encoded = secret.data?.[NOTIFICATIONS_KEY];
    if (encoded === undefined) {
      this.#options.notifier.configure([]);
      this.#report(secret, `it has no key ${NOTIFICATIONS_KEY}: no notifications are sent`);
      return;
    }
    let settings;
    try {
      settings = parseNotificationSettings(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch (error) {
      this.#report(secret, `${(error as Error).message}; the sinks stay as they were`);
      return;
    }
    this.#options.notifier.configure(settings.sinks);
    if (settings.problems.length > 0) this.#report(secret, `left out ${settings.problems.join('; ')}`);
  }

  #clear(): void {
    if (this.#applied === undefined) return;
    this.#applied = undefined;
    this.#options.notifier.configure([]);
  }

  #report(secret: V1Secret, problem: string): void {
    const { namespace, events, logger } = this.#options;
    logger.warn(
      { secret: `${namespace}/${NOTIFICATIONS_SECRET}`, problem },
      'notification settings are not all usable',
    );
    events.record(
      { apiVersion: 'v1', kind: 'Secret', namespace, name: NOTIFICATIONS_SECRET, uid: secret.metadata?.uid ?? '' },
      'Warning',
      'InvalidNotificationSettings',
      `${NOTIFICATIONS_KEY}: ${problem}`,
    );
  }
}
