// Sends one sink's notices, one at a time, in order, from a bounded queue, away
// from everything else confighash does: publishing a notice never waits. A send
// that fails is retried with exponential backoff and jitter, after the time a
// 429 or 503 names in Retry-After, until the sink's retry time is spent; a 4xx
// other than 408 and 429 is not retried (the request itself is wrong: a revoked
// webhook, a bad URL). Every notice ends counted in
// confighash_notifications_total{sink, result}: sent, failed or dropped. The
// sink's URL is a credential (Slack's and Teams' URLs are their own auth): it is
// never logged, only the sink's name.
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { jitter, sleep } from '../time/sleep.ts';
import type { Notice } from './notice.ts';
import type { SinkFormat, SinkMessage } from './sinks/sink.ts';

export interface SinkDeliveryOptions {
  /** The sink's name, as configured: the metrics label and what logs say. */
  name: string;
  url: string;
  format: SinkFormat;
  /** Per request. */
  timeoutMs: number;
  /** From the first attempt: past it, the notice is given up. */
  retryForMs: number;
  queueSize: number;
  metrics: Metrics;
  logger: Logger;
  /** The first retry's delay, doubled per retry up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

type Attempt =
  { result: 'sent' } | { result: 'retry'; why: string; afterMs?: number } | { result: 'refused'; why: string };

export class SinkDelivery {
  readonly #options: SinkDeliveryOptions;
  readonly #queue: Notice[] = [];
  readonly #stopped = new AbortController();
  #wake: (() => void) | undefined;
  /** Resolved when the queue is empty and nothing is being sent. */
  #idle = Promise.withResolvers<undefined>();
  #busy = false;
  readonly #loop: Promise<void>;

  constructor(options: SinkDeliveryOptions) {
    this.#options = options;
    this.#idle.resolve(undefined);
    options.metrics.notificationQueue.set({ sink: options.name }, 0);
    for (const result of ['sent', 'failed', 'dropped'])
      options.metrics.notifications.inc({ sink: options.name, result }, 0);
    this.#loop = this.#run();
  }

  /** Queues the notice; returns at once. */
  enqueue(notice: Notice): void {
    const { name, queueSize, metrics, logger } = this.#options;
    if (this.#stopped.signal.aborted || this.#queue.length >= queueSize) {
      metrics.notifications.inc({ sink: name, result: 'dropped' });
      logger.warn(
        { sink: name, notice: notice.type, id: notice.id },
        'notification dropped: too many waiting for this sink',
      );
      return;
    }
    this.#queue.push(notice);
    metrics.notificationQueue.set({ sink: name }, this.#queue.length);
    if (!this.#busy) this.#idle = Promise.withResolvers<undefined>();
    this.#busy = true;
    this.#wake?.();
  }

  /** Resolves once every queued notice has been sent or given up on. */
  idle(): Promise<undefined> {
    return this.#idle.promise;
  }

  /** Lets the queue drain for up to `graceMs`, then stops; what is left is counted dropped. */
  async stop(graceMs: number): Promise<void> {
    if (graceMs > 0) await Promise.race([this.idle(), sleep(graceMs, this.#stopped.signal)]);
    this.#stopped.abort();
    this.#wake?.();
    await this.#loop;
    const { name, metrics } = this.#options;
    if (this.#queue.length > 0) metrics.notifications.inc({ sink: name, result: 'dropped' }, this.#queue.length);
    this.#queue.length = 0;
    metrics.notificationQueue.set({ sink: name }, 0);
    this.#idle.resolve(undefined);
  }

  async #run(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      const notice = this.#queue.shift();
      if (!notice) {
        this.#busy = false;
        this.#idle.resolve(undefined);
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#options.metrics.notificationQueue.set({ sink: this.#options.name }, this.#queue.length);
      await this.#deliver(notice);
    }
  }

  async #deliver(notice: Notice): Promise<void> {
    const { name, format, retryForMs, metrics, logger } = this.#options;
    const message = format.render(notice);
    const started = Date.now();
    const signal = this.#stopped.signal;
    for (let retry = 0; !signal.aborted; retry++) {
      const attempt = await this.#attempt(message);
      const log = { sink: name, notice: notice.type, id: notice.id, attempt: retry + 1 };
      if (attempt.result === 'sent') {
        metrics.notifications.inc({ sink: name, result: 'sent' });
        logger.debug(log, 'notification sent');
        return;
      }
      const waitMs = attempt.result === 'retry' ? (attempt.afterMs ?? this.#backoff(retry)) : Infinity;
      if (Date.now() + waitMs - started > retryForMs) {
        metrics.notifications.inc({ sink: name, result: 'failed' });
        logger.warn(
          { ...log, why: attempt.why },
          attempt.result === 'refused'
            ? 'notification refused by the sink; not retried'
            : 'notification given up: the sink failed for its whole retry time',
        );
        return;
      }
      logger.info({ ...log, why: attempt.why, retryInMs: Math.round(waitMs) }, 'notification not delivered; retrying');
      await sleep(waitMs, signal);
    }
    // Stopped while retrying: stop() counts what was never sent.
    this.#queue.unshift(notice);
  }

  async #attempt(message: SinkMessage): Promise<Attempt> {
    const { url, timeoutMs } = this.#options;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': message.contentType, 'user-agent': 'confighash' },
        body: message.body,
        // A redirect could carry the notice somewhere the operator did not configure.
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stopped.signal]),
      });
      // The answer is not used; reading it frees the connection.
      await response.arrayBuffer();
    } catch (error) {
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs}ms`
          : describeFetchError(error);
      return { result: 'retry', why };
    }
    if (response.ok) return { result: 'sent' };
    const why = `HTTP ${response.status}`;
    if (response.status === 429 || response.status === 503) {
      const afterMs = retryAfterMs(response.headers.get('retry-after'));
      return afterMs === undefined ? { result: 'retry', why } : { result: 'retry', why, afterMs };
    }
    if (response.status === 408 || response.status >= 500) return { result: 'retry', why };
    return { result: 'refused', why };
  }

  #backoff(retry: number): number {
    const initial = this.#options.initialBackoffMs ?? 1000;
    const max = this.#options.maxBackoffMs ?? 60_000;
    return jitter(Math.min(max, initial * 2 ** retry), 0.2);
  }
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** fetch's "fetch failed", with the cause that says what failed (connection refused, DNS, TLS). */
function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause =
    error.cause instanceof Error ? `: ${(error.cause as Error & { code?: string }).code ?? error.cause.message}` : '';
  return `${error.message}${cause}`;
}
