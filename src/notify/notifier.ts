// Routes each notice to the sinks that want it (by type and namespace), each
// with its own delivery (delivery.ts), so a slow or dead sink delays only its
// own notices, never reconciliation, admission or another sink. Only the
// leader publishes: notices come from the reconciler and the followers, which
// run on the leader alone, and each one right after the write to the workload
// that records what it tells (a rollout's annotations, a deferral, a rollout's
// result, a reload's outcome). That write is guarded by the resourceVersion it
// was decided on, so across a hand-over one leader's write succeeds and one
// notice is published. What a leader that dies has queued and not yet sent is
// lost (a SIGTERM drains for up to a few seconds first); ids are stable, so a
// receiver may drop the rare repeat (a required source still missing is told
// again by a new leader).
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.ts';
import { SinkDelivery } from './delivery.ts';
import type { Notice } from './notice.ts';
import type { SinkSettings } from './settings.ts';
import { SINK_FORMATS } from './sinks/index.ts';
import type { SinkFormat } from './sinks/sink.ts';

export interface NotifierOptions {
  metrics: Metrics;
  logger: Logger;
  /** Notices waiting per sink; beyond it, new ones are dropped. */
  queueSize?: number;
  /** For tests: the first retry's delay. */
  initialBackoffMs?: number;
}

/** What publishes notices: the notifier in production, a list in tests. */
export interface NoticePublisher {
  publish(notice: Notice): void;
}

/** Ids remembered to drop a notice published twice by this process. */
const RECENT_IDS = 4096;

interface Sink {
  settings: SinkSettings;
  /** The settings as compared on reconfiguration. */
  fingerprint: string;
  delivery: SinkDelivery;
}

export class Notifier implements NoticePublisher {
  readonly #options: NotifierOptions;
  #sinks = new Map<string, Sink>();
  readonly #recent = new Set<string>();
  readonly #stopping = new Set<Promise<void>>();

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  /** Sends from now on to `sinks`: unchanged ones keep their queue; changed and removed ones stop at once. */
  configure(sinks: readonly SinkSettings[]): void {
    const next = new Map<string, Sink>();
    for (const settings of sinks) {
      const fingerprint = JSON.stringify({
        ...settings,
        events: [...(settings.events ?? [])],
        namespaces: [...(settings.namespaces ?? [])],
      });
      const kept = this.#sinks.get(settings.name);
      if (kept?.fingerprint === fingerprint) {
        next.set(settings.name, kept);
        continue;
      }
      next.set(settings.name, { settings, fingerprint, delivery: this.#delivery(settings) });
    }
    for (const [name, sink] of this.#sinks) {
      if (next.get(name) !== sink) this.#retire(sink.delivery);
    }
    this.#sinks = next;
    this.#options.logger.info(
      { sinks: [...next.values()].map((s) => `${s.settings.name} (${s.settings.type})`) },
      'notification sinks configured',
    );
  }

  publish(notice: Notice): void {
    if (this.#sinks.size === 0 || this.#seen(notice.id)) return;
    for (const { settings, delivery } of this.#sinks.values()) {
      if (settings.events && !settings.events.has(notice.type)) continue;
      if (settings.namespaces && !settings.namespaces.has(notice.workload.namespace)) continue;
      delivery.enqueue(notice);
    }
  }

  /** Resolves once every sink's queue is empty. */
  async idle(): Promise<void> {
    await Promise.all([...this.#sinks.values()].map((s) => s.delivery.idle()));
  }

  /** Lets every queue drain for up to `graceMs`, then stops. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all([...[...this.#sinks.values()].map((s) => s.delivery.stop(graceMs)), ...this.#stopping]);
    this.#sinks.clear();
  }

  #delivery(settings: SinkSettings): SinkDelivery {
    const { metrics, logger, queueSize = 256, initialBackoffMs } = this.#options;
    return new SinkDelivery({
      name: settings.name,
      url: settings.url,
      format: sinkFormat(settings.type),
      timeoutMs: settings.timeoutMs,
      retryForMs: settings.retryForMs,
      queueSize,
      metrics,
      logger,
      ...(initialBackoffMs === undefined ? {} : { initialBackoffMs }),
    });
  }

  #retire(delivery: SinkDelivery): void {
    const stopping = delivery.stop(0).finally(() => this.#stopping.delete(stopping));
    this.#stopping.add(stopping);
  }

  /** Whether this process published the id recently; remembers it if not. */
  #seen(id: string): boolean {
    if (this.#recent.has(id)) return true;
    this.#recent.add(id);
    if (this.#recent.size > RECENT_IDS) {
      const oldest = this.#recent.values().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    return false;
  }
}

/** The format of a type the settings were checked to name. */
function sinkFormat(type: string): SinkFormat {
  const format = SINK_FORMATS[type];
  if (!format) throw new Error(`no sink of type ${type}`);
  return format;
}
