// Which Events reach the API server, and as what, after client-go's
// EventCorrelator:
// - aggregation: beyond 10 Events of one reason on one object with different
//   messages within 10 minutes, they become one Event, "(combined from similar
//   events): <latest message>", whose count grows;
// - deduplication: an Event like one already recorded (same object, type,
//   reason and message) bumps that one's count instead of adding another;
// - spam filter: each object has a budget of 25 Events, refilled one per
//   5 minutes; beyond it, Events are dropped.
// Unlike client-go, an Event's name comes from what it says, not from the time:
// after a restart or a leader change, the same Event is found again (a create
// answers 409) and its count is bumped, instead of being created once more.
import { createHash } from 'node:crypto';
import { TokenBucket } from '../time/token-bucket.ts';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  /** Empty for a cluster-scoped object; its Events then go to `default`. */
  namespace: string;
  name: string;
  uid: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventInput {
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
}

/** What to write: the Event `name` with this message and count. */
export interface EventWrite {
  name: string;
  namespace: string;
  input: EventInput;
  count: number;
  firstTimestamp: Date;
}

export type Correlation = { kind: 'drop' } | ({ kind: 'write' } & EventWrite);

export interface CorrelatorOptions {
  now?: () => number;
  /** Similar Events (other messages) on one object before they are aggregated. */
  aggregateThreshold?: number;
  aggregateWindowMs?: number;
  /** Events one object may have at once, and how fast that budget refills. */
  spamBurst?: number;
  spamRefillPerSecond?: number;
  /** Entries each cache holds; the oldest are forgotten first. */
  maxEntries?: number;
}

const AGGREGATE_PREFIX = '(combined from similar events): ';
const MAX_NAME_PREFIX = 200;
const MAX_MESSAGE_LENGTH = 1024;

export class EventCorrelator {
  readonly #now: () => number;
  readonly #options: Required<Omit<CorrelatorOptions, 'now'>>;
  /** object + type + reason → the distinct messages seen, since when. */
  readonly #similar = new Lru<{ messages: Set<string>; since: number }>();
  /** Event identity → what was written of it. */
  readonly #written = new Lru<{ count: number; firstTimestamp: Date }>();
  /** object → its budget. */
  readonly #budgets = new Lru<TokenBucket>();

  constructor(options: CorrelatorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#options = {
      aggregateThreshold: options.aggregateThreshold ?? 10,
      aggregateWindowMs: options.aggregateWindowMs ?? 600_000,
      spamBurst: options.spamBurst ?? 25,
      spamRefillPerSecond: options.spamRefillPerSecond ?? 1 / 300,
      maxEntries: options.maxEntries ?? 4096,
    };
  }

  correlate(event: EventInput): Correlation {
    const input = this.#aggregate({ ...event, message: event.message.slice(0, MAX_MESSAGE_LENGTH) });
    const identity = eventIdentity(input);
    const previous = this.#written.get(identity);
    const written = {
      count: (previous?.count ?? 0) + 1,
      firstTimestamp: previous?.firstTimestamp ?? new Date(this.#now()),
    };
    this.#written.set(identity, written, this.#options.maxEntries);
    if (!this.#budget(objectIdentity(event.target))) return { kind: 'drop' };
    return {
      kind: 'write',
      name: eventName(event.target, identity),
      namespace: eventNamespace(event.target),
      input,
      ...written,
    };
  }

  /** The Event itself, or the aggregate it is folded into. */
  #aggregate(event: EventInput): EventInput {
    const key = `${objectIdentity(event.target)}\0${event.type}\0${event.reason}`;
    const now = this.#now();
    let record = this.#similar.get(key);
    if (!record || now - record.since > this.#options.aggregateWindowMs) record = { messages: new Set(), since: now };
    if (record.messages.size < this.#options.aggregateThreshold) record.messages.add(event.message);
    this.#similar.set(key, record, this.#options.maxEntries);
    if (record.messages.has(event.message)) return event;
    return { ...event, message: `${AGGREGATE_PREFIX}${event.message}`.slice(0, MAX_MESSAGE_LENGTH) };
  }

  #budget(object: string): boolean {
    let bucket = this.#budgets.get(object);
    if (!bucket) bucket = new TokenBucket(this.#options.spamRefillPerSecond, this.#options.spamBurst, this.#now);
    this.#budgets.set(object, bucket, this.#options.maxEntries);
    return bucket.take() === 0;
  }
}

/** Where an Event about `target` lives: its namespace, or `default` for a cluster-scoped object. */
export function eventNamespace(target: EventTarget): string {
  return target.namespace || 'default';
}

function objectIdentity(target: EventTarget): string {
  return [target.apiVersion, target.kind, target.namespace, target.name, target.uid].join('\0');
}

/** Aggregates share one identity whatever their latest message, so they bump one Event. */
function eventIdentity(event: EventInput): string {
  const message = event.message.startsWith(AGGREGATE_PREFIX) ? AGGREGATE_PREFIX : event.message;
  return [objectIdentity(event.target), event.type, event.reason, message].join('\0');
}

function eventName(target: EventTarget, identity: string): string {
  const digest = createHash('sha256').update(identity).digest('hex').slice(0, 16);
  return `${target.name.slice(0, MAX_NAME_PREFIX).replace(/[.-]+$/, '')}.${digest}`;
}

/** A Map that forgets its least recently set entries beyond a bound. */
class Lru<V> {
  readonly #entries = new Map<string, V>();

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  set(key: string, value: V, max: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > max) this.#entries.delete(this.#entries.keys().next().value as string);
  }
}
