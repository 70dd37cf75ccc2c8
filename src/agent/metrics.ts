// The agent's metrics, on its own registry: reloads by result, the time of the
// last success, and the digest of what the program last reloaded.
import { Counter, Gauge, type Registry } from 'prom-client';

export class AgentMetrics {
  readonly #reloads: Counter<'result'>;
  readonly #lastSuccess: Gauge;
  readonly #reloadedInfo: Gauge<'digest'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#reloads = new Counter({ name: 'confighash_agent_reloads_total', help: 'Reload attempts, by result (success, failure).', labelNames: ['result'], registers });
    for (const result of ['success', 'failure']) this.#reloads.inc({ result }, 0);
    this.#lastSuccess = new Gauge({ name: 'confighash_agent_last_reload_success_timestamp_seconds', help: 'When the last reload succeeded.', registers });
    this.#reloadedInfo = new Gauge({ name: 'confighash_agent_reloaded_info', help: 'The digest of the configuration the program runs (1 on the current digest).', labelNames: ['digest'], registers });
  }

  reloaded(digest: string): void {
    this.#reloadedInfo.reset();
    this.#reloadedInfo.set({ digest: digest.slice(0, 12) }, 1);
  }

  reloadResult(result: 'success' | 'failure', digest: string): void {
    this.#reloads.inc({ result });
    if (result === 'failure') return;
    this.#lastSuccess.set(Date.now() / 1000);
    this.reloaded(digest);
  }
}
