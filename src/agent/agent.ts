// The reload agent (`confighash agent`), injected beside a program that can take
// new configuration in place. It watches the program's configuration volumes,
// waits until every changed volume has settled (the kubelet updates volumes one
// by one), triggers one reload per new configuration, verifies it, retries with
// backoff, and reports what it last reloaded. It holds no API credentials: each
// change of its status is also a log line (`agent status`), which the controller
// and `confighash status` read through the API server's pod log endpoint.
import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import { jitter, sleep } from '../sleep.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Trigger } from './trigger.ts';
import { readVolume, volumesDigest } from './volume.ts';
import { AGENT_STATUS_MESSAGE } from '../checksum/index.ts';

export interface AgentOptions {
  volumes: readonly string[];
  trigger: Trigger;
  /** Configuration unchanged for this long counts as settled. */
  settleMs: number;
  /** Volumes are also polled this often (a watch can miss a symlink swap). */
  pollMs: number;
  retry: { initialMs: number; maxMs: number; attempts: number };
  logger: Logger;
  metrics: AgentMetrics;
}

export type AgentState = 'current' | 'waiting' | 'reloading' | 'failed';

export interface AgentStatus {
  state: AgentState;
  trigger: string;
  /** The configuration the program runs: loaded at start, or last reloaded. */
  reloadedDigest: string;
  /** The configuration on disk now. */
  currentDigest: string;
  reloads: number;
  /** When the agent started: what was on disk then is what the program started with. */
  startedAt: string;
  /** When a reload was last tried: a failure older than a change is not about it. */
  lastAttempt?: string;
  lastError?: string | undefined;
  lastSuccess?: string;
}



export class Agent {
  readonly #options: AgentOptions;
  readonly #stopped = new AbortController();
  #watchers: FSWatcher[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #status: AgentStatus;

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#status = { state: 'current', trigger: options.trigger.description, reloadedDigest: '', currentDigest: '', reloads: 0, startedAt: new Date().toISOString() };
  }

  get status(): AgentStatus {
    return { ...this.#status };
  }

  /** Reads what the program started with (that is what it runs), then watches. */
  async start(): Promise<void> {
    const digest = await this.#digest();
    this.#set({ ...this.#status, reloadedDigest: digest, currentDigest: digest });
    this.#options.metrics.reloaded(digest);
    for (const dir of this.#options.volumes) {
      this.#watchers.push(watch(dir, () => this.#wake?.()));
    }
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped.abort();
    for (const watcher of this.#watchers) watcher.close();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped.signal.aborted) {
      const settled = await this.#settledChange();
      if (settled !== undefined) await this.#reload(settled);
    }
  }

  /** Waits for a configuration other than the reloaded one to stay unchanged for settleMs; undefined if stopped. */
  async #settledChange(): Promise<string | undefined> {
    let candidate = this.#status.currentDigest;
    let since = Date.now();
    while (!this.#stopped.signal.aborted) {
      await this.#nap();
      const digest = await this.#digest().catch(() => candidate);
      if (digest !== candidate) {
        candidate = digest;
        since = Date.now();
        this.#set({ ...this.#status, currentDigest: digest, state: digest === this.#status.reloadedDigest ? 'current' : 'waiting' });
        continue;
      }
      if (candidate !== this.#status.reloadedDigest && Date.now() - since >= this.#options.settleMs) return candidate;
    }
    return undefined;
  }

  /** Triggers the reload until it works or the attempts run out; counted and reported either way. */
  async #reload(digest: string): Promise<void> {
    const { trigger, retry, logger, metrics } = this.#options;
    this.#set({ ...this.#status, state: 'reloading', lastAttempt: new Date().toISOString() });
    let waitMs = retry.initialMs;
    for (let attempt = 1; attempt <= retry.attempts && !this.#stopped.signal.aborted; attempt++) {
      try {
        await trigger.fire();
        metrics.reloadResult('success', digest);
        this.#set({ ...this.#status, state: 'current', reloadedDigest: digest, reloads: this.#status.reloads + 1, lastSuccess: new Date().toISOString(), lastError: undefined });
        logger.info({ trigger: trigger.description, digest: digest.slice(0, 12) }, 'reloaded the new configuration');
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        metrics.reloadResult('failure', digest);
        this.#set({ ...this.#status, lastError: reason });
        logger.warn({ trigger: trigger.description, attempt, err: reason, retryInMs: waitMs }, 'reload failed');
        await sleep(jitter(waitMs, 0.2), this.#stopped.signal);
        waitMs = Math.min(waitMs * 2, retry.maxMs);
      }
    }
    // Given up on this configuration: the next change is tried afresh.
    this.#set({ ...this.#status, state: 'failed', reloadedDigest: digest });
  }

  /** Sets the status; a change that matters is also logged, which is how the controller reads it. */
  #set(status: AgentStatus): void {
    const previous = this.#status;
    this.#status = status;
    const fields = ['state', 'reloadedDigest', 'currentDigest', 'lastError'] as const;
    if (fields.some((field) => previous[field] !== status[field])) this.#options.logger.info({ status: this.status }, AGENT_STATUS_MESSAGE);
  }

  async #digest(): Promise<string> {
    return volumesDigest(await Promise.all(this.#options.volumes.map(readVolume)));
  }

  /** Until a volume changes (a watch event) or the poll interval passes. */
  async #nap(): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.race([woken, sleep(Math.min(this.#options.pollMs, this.#options.settleMs), this.#stopped.signal)]);
    this.#wake = undefined;
  }
}
