// The reload agent (`confighash agent`), injected beside a program that can take
// new configuration in place. It watches the program's configuration volumes,
// waits until every changed volume has settled (the kubelet updates volumes one
// by one), triggers one reload per new configuration, verifies it, retries with
// backoff, and reports what it last reloaded. It holds no API credentials: each
// change of its status is also a log line (`agent status`), which the controller
// and `confighash status` read through the API server's pod log endpoint. It
// shows no digest of the configuration (a hash of a Secret's file is a guess
// checker for low-entropy values), only states and times; what it must compare
// across its own restarts it keeps in its state file (src/agent/state.ts).
import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import { jitter, sleep } from '../time/sleep.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Trigger } from './trigger.ts';
import { type AgentMemory, freshMemory, recall, remember } from './state.ts';
import { readVolume, volumesDigest } from './volume.ts';
import { AGENT_STATUS_MESSAGE } from '../checksum/index.ts';
import { oneLine } from '../telemetry/one-line.ts';

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
  /** Where the agent keeps what it must remember across its restarts (on the pod's emptyDir); none in tests that need no restart. */
  stateFile?: string;
}

export type AgentState = 'current' | 'waiting' | 'reloading' | 'failed';

/** What the agent reports (its status line, /status): states and times, never a digest. */
export interface AgentStatus {
  state: AgentState;
  trigger: string;
  reloads: number;
  /** When the agent first started in this pod (kept across its restarts): what was on disk then is what the program started with. */
  startedAt: string;
  /** When a reload was last tried: a failure older than a change is not about it. */
  lastAttempt?: string;
  lastError?: string | undefined;
  lastSuccess?: string;
}

/** An agent's error text is shown in Events and chat: one line, this long at most. */
const MAX_ERROR_LENGTH = 300;

export class Agent {
  readonly #options: AgentOptions;
  readonly #stopped = new AbortController();
  #watchers: FSWatcher[] = [];
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #status: AgentStatus;
  /** The keyed digests compared: what the program runs, and what is on disk. */
  #reloadedDigest = '';
  #currentDigest = '';
  #key = Buffer.alloc(0);

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#status = {
      state: 'current',
      trigger: options.trigger.description,
      reloads: 0,
      startedAt: new Date().toISOString(),
    };
  }

  get status(): AgentStatus {
    return { ...this.#status };
  }

  /**
   * Learns what the program runs — what the agent's earlier run in this pod
   * verified, or, on the pod's first start, what is on disk (the program starts
   * after the agent) — then watches. A difference is reloaded once settled.
   */
  async start(): Promise<void> {
    const { stateFile } = this.#options;
    const recalled = stateFile === undefined ? undefined : await recall(stateFile);
    const memory = recalled ?? freshMemory(new Date());
    this.#key = Buffer.from(memory.key, 'base64');
    const digest = await this.#digest();
    this.#reloadedDigest = recalled?.reloadedDigest ?? digest;
    this.#currentDigest = digest;
    this.#set({
      ...this.#status,
      startedAt: memory.startedAt,
      reloads: memory.reloads,
      state: digest === this.#reloadedDigest ? 'current' : 'waiting',
    });
    await this.#remember();
    this.#options.metrics.runsCurrent(digest === this.#reloadedDigest);
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
    let candidate = this.#currentDigest;
    let since = Date.now();
    while (!this.#stopped.signal.aborted) {
      await this.#nap();
      const digest = await this.#digest().catch(() => candidate);
      if (digest !== candidate) {
        candidate = digest;
        since = Date.now();
        this.#currentDigest = digest;
        this.#options.metrics.runsCurrent(digest === this.#reloadedDigest);
        this.#set({ ...this.#status, state: digest === this.#reloadedDigest ? 'current' : 'waiting' });
        continue;
      }
      if (candidate !== this.#reloadedDigest && Date.now() - since >= this.#options.settleMs) return candidate;
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
        this.#reloadedDigest = digest;
        metrics.reloadResult('success');
        metrics.runsCurrent(digest === this.#currentDigest);
        this.#set({
          ...this.#status,
          state: 'current',
          reloads: this.#status.reloads + 1,
          lastSuccess: new Date().toISOString(),
          lastError: undefined,
        });
        await this.#remember();
        logger.info({ trigger: trigger.description, reloads: this.#status.reloads }, 'reloaded the new configuration');
        return;
      } catch (error) {
        const reason = oneLine(error instanceof Error ? error.message : String(error), MAX_ERROR_LENGTH);
        metrics.reloadResult('failure');
        this.#set({ ...this.#status, lastError: reason });
        logger.warn({ trigger: trigger.description, attempt, err: reason, retryInMs: waitMs }, 'reload failed');
        await sleep(jitter(waitMs, 0.2), this.#stopped.signal);
        waitMs = Math.min(waitMs * 2, retry.maxMs);
      }
    }
    // Given up on this configuration: the next change is tried afresh.
    this.#reloadedDigest = digest;
    metrics.runsCurrent(false);
    this.#set({ ...this.#status, state: 'failed' });
    await this.#remember();
  }

  /** Sets the status; a change that matters is also logged, which is how the controller reads it. */
  #set(status: AgentStatus): void {
    const previous = this.#status;
    this.#status = status;
    const fields = ['state', 'reloads', 'startedAt', 'lastError'] as const;
    if (fields.some((field) => previous[field] !== status[field]))
      this.#options.logger.info({ status: this.status }, AGENT_STATUS_MESSAGE);
  }

  /** Keeps what a restarted agent must know; a failure to write is logged (the restart would then start afresh). */
  async #remember(): Promise<void> {
    const { stateFile, logger } = this.#options;
    if (stateFile === undefined) return;
    const memory: AgentMemory = {
      key: this.#key.toString('base64'),
      reloadedDigest: this.#reloadedDigest,
      startedAt: this.#status.startedAt,
      reloads: this.#status.reloads,
    };
    await remember(stateFile, memory).catch((error: unknown) => {
      logger.warn(
        { err: (error as Error).message },
        "could not write the agent's state file: a restart of the agent will take the configuration on disk as what the program runs",
      );
    });
  }

  async #digest(): Promise<string> {
    return volumesDigest(await Promise.all(this.#options.volumes.map(readVolume)), this.#key);
  }

  /** Until a volume changes (a watch event) or the poll interval passes. */
  async #nap(): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    await Promise.race([woken, sleep(Math.min(this.#options.pollMs, this.#options.settleMs), this.#stopped.signal)]);
    this.#wake = undefined;
  }
}
