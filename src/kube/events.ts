// Kubernetes Events (core/v1, so `kubectl describe` and `kubectl get events` show
// them), recorded the way client-go's recorder does it: correlated first
// (aggregated, deduplicated, each object on a budget; see event-correlator.ts),
// then written by one background writer, at a bounded rate, from a bounded
// queue. Recording never waits and never throws: a reconcile that reports
// thousands of missing sources costs a few map operations, not thousands of
// requests competing with the leader's lease renewals. What cannot be written
// (queue full, API errors) is logged and counted.
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { sleep } from '../time/sleep.ts';
import { TokenBucket } from '../time/token-bucket.ts';
import { apiStatus, describeApiError } from './errors.ts';
import { EventCorrelator, type EventTarget, type EventType, type EventWrite } from './event-correlator.ts';
import { apiPath, requestJson } from './raw.ts';

export type { EventTarget, EventType } from './event-correlator.ts';

/** The Event calls the recorder makes; over the API server in production, faked in tests. */
export interface EventApi {
  /** Creates the Event; false when one of that name already exists. */
  create(namespace: string, event: CoreEvent): Promise<boolean>;
  /** The Event's count, or undefined when it does not exist (expired, deleted). */
  count(namespace: string, name: string): Promise<number | undefined>;
  /** Sets the Event's count, message and lastTimestamp. */
  update(
    namespace: string,
    name: string,
    fields: { count: number; message: string; lastTimestamp: string },
  ): Promise<void>;
}

export interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: EventTarget;
  type: EventType;
  reason: string;
  message: string;
  source: { component: string };
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export interface EventRecorderOptions {
  api: EventApi;
  logger: Logger;
  metrics: Metrics;
  correlator?: EventCorrelator;
  /** Events waiting to be written; beyond it, new ones are dropped. */
  queueSize?: number;
  /** Writes per second, and how many may go at once before the rate applies. */
  ratePerSecond?: number;
  burst?: number;
}

const COMPONENT = 'confighash';
const REQUEST_TIMEOUT_MS = 10_000;

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #correlator: EventCorrelator;
  readonly #rate: TokenBucket;
  readonly #queueSize: number;
  /** Event name → what to write: a newer write of the same Event replaces a waiting one. */
  readonly #queue = new Map<string, EventWrite>();
  readonly #stopped = new AbortController();
  readonly #instance = hostname();
  #wake: (() => void) | undefined;
  /** Unresolved while Events wait or are being written. */
  #busy: PromiseWithResolvers<undefined> | undefined;
  readonly #writer: Promise<void>;

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#correlator = options.correlator ?? new EventCorrelator();
    this.#rate = new TokenBucket(options.ratePerSecond ?? 10, options.burst ?? 25);
    this.#queueSize = options.queueSize ?? 1024;
    this.#writer = this.#write();
  }

  /** Queues the Event; returns at once. */
  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const { metrics, logger } = this.#options;
    const correlated = this.#correlator.correlate({ target, type, reason, message });
    if (correlated.kind === 'drop') {
      metrics.events.inc({ result: 'spam_filtered' });
      logger.debug(
        { reason, object: `${target.kind} ${target.namespace}/${target.name}` },
        'event dropped: the object used up its Event budget',
      );
      return;
    }
    if (!this.#queue.has(correlated.name) && this.#queue.size >= this.#queueSize) {
      metrics.events.inc({ result: 'queue_full' });
      logger.warn(
        { reason, object: `${target.kind} ${target.namespace}/${target.name}` },
        'event dropped: too many Events waiting to be written',
      );
      return;
    }
    this.#queue.delete(correlated.name);
    this.#queue.set(correlated.name, correlated);
    this.#busy ??= Promise.withResolvers<undefined>();
    this.#wake?.();
  }

  /** Resolves once every queued Event has been written (or given up on). */
  idle(): Promise<undefined> {
    return this.#busy?.promise ?? Promise.resolve(undefined);
  }

  /** Stops writing; Events still queued are dropped. */
  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#wake?.();
    await this.#writer;
    this.#busy?.resolve(undefined);
  }

  async #write(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      const next = this.#queue.entries().next().value;
      if (!next) {
        this.#busy?.resolve(undefined);
        this.#busy = undefined;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const wait = this.#rate.take();
      if (wait > 0) {
        await sleep(wait, signal);
        continue;
      }
      const [name, write] = next;
      this.#queue.delete(name);
      await this.#writeOne(write);
    }
  }

  async #writeOne(write: EventWrite): Promise<void> {
    const { metrics, logger } = this.#options;
    try {
      metrics.events.inc({ result: await this.#send(write) });
    } catch (error) {
      metrics.events.inc({ result: 'failed' });
      const { target, reason } = write.input;
      logger.warn(
        { err: describeApiError(`record event ${reason} on ${target.kind} ${target.namespace}/${target.name}`, error) },
        'could not record event',
      );
    }
  }

  /** Creates the Event, or bumps the count of the one of that name. */
  async #send(write: EventWrite): Promise<'created' | 'updated'> {
    const { api } = this.#options;
    const now = new Date().toISOString();
    if (write.count > 1 && (await this.#update(write, write.count, now))) return 'updated';
    if (await api.create(write.namespace, this.#event(write, now))) return 'created';
    // Recorded before this process knew of it (a restart, another leader): add to its count.
    const existing = await api.count(write.namespace, write.name);
    if (existing === undefined) {
      await api.create(write.namespace, this.#event(write, now));
      return 'created';
    }
    await this.#update(write, existing + 1, now);
    return 'updated';
  }

  /** Sets the Event's count; false when it does not exist (expired, deleted). */
  async #update(write: EventWrite, count: number, now: string): Promise<boolean> {
    try {
      await this.#options.api.update(write.namespace, write.name, {
        count,
        message: write.input.message,
        lastTimestamp: now,
      });
      return true;
    } catch (error) {
      if (apiStatus(error) === 404) return false;
      throw error;
    }
  }

  #event(write: EventWrite, now: string): CoreEvent {
    const { target, type, reason, message } = write.input;
    return {
      metadata: { name: write.name, namespace: write.namespace },
      involvedObject: { ...target },
      type,
      reason,
      message,
      source: { component: COMPONENT },
      reportingComponent: 'confighash.dev/controller',
      reportingInstance: this.#instance,
      firstTimestamp: write.firstTimestamp.toISOString(),
      lastTimestamp: now,
      count: write.count,
    };
  }
}

/** Events over the API server, as raw JSON. */
export function apiEventApi(config: KubeConfig): EventApi {
  const collection = (namespace: string): string => apiPath('/api/v1', 'namespaces', namespace, 'events');
  return {
    async create(namespace, event) {
      try {
        await requestJson(config, {
          method: 'POST',
          path: collection(namespace),
          body: event,
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        return true;
      } catch (error) {
        if (apiStatus(error) === 409) return false;
        throw error;
      }
    },
    async count(namespace, name) {
      try {
        const event = await requestJson<{ count?: number }>(config, {
          method: 'GET',
          path: apiPath(collection(namespace), name),
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        return event.count ?? 1;
      } catch (error) {
        if (apiStatus(error) === 404) return undefined;
        throw error;
      }
    },
    async update(namespace, name, fields) {
      await requestJson(config, {
        method: 'PATCH',
        path: apiPath(collection(namespace), name),
        body: fields,
        contentType: 'application/merge-patch+json',
        timeoutMs: REQUEST_TIMEOUT_MS,
      });
    },
  };
}
