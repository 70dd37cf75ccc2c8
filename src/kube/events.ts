// Kubernetes Events on workloads (core/v1, so `kubectl describe` and
// `kubectl get events` show them). Best effort: a failure is logged, never thrown.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeApiError } from './errors.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export type EventType = 'Normal' | 'Warning';

export class EventRecorder {
  readonly #core: CoreV1Api;
  readonly #logger: Logger;
  readonly #instance = hostname();

  constructor(core: CoreV1Api, logger: Logger) {
    this.#core = core;
    this.#logger = logger;
  }

  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date();
    try {
      await this.#core.createNamespacedEvent({
        namespace: target.namespace,
        body: {
          metadata: { name: `${target.name}.${randomBytes(8).toString('hex')}`, namespace: target.namespace },
          involvedObject: { ...target },
          type,
          reason,
          message,
          source: { component: 'confighash' },
          reportingComponent: 'confighash.dev/controller',
          reportingInstance: this.#instance,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.#logger.warn({ err: describeApiError(`create event ${reason} on ${target.kind} ${target.namespace}/${target.name}`, error) }, 'could not record event');
    }
  }
}
