// The agent's metrics, on its own registry: reloads by result, the time of the
// last success, and whether the program runs what is on disk. No digest: a hash
// of a mounted Secret's file would let anyone who scrapes it check guesses.
import { Counter, Gauge, type Registry } from 'prom-client';

export class AgentMetrics {
  readonly #reloads: Counter<'result'>;
  readonly #lastSuccess: Gauge;
  readonly #current: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#reloads = new Counter({
      name: 'confighash_agent_reloads_total',
      help: 'Reload attempts, by result (success, failure).',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['success', 'failure']) this.#reloads.inc({ result }, 0);
    this.#lastSuccess = new Gauge({
      name: 'confighash_agent_last_reload_success_timestamp_seconds',
      help: 'When the last reload succeeded.',
      registers,
    });
    this.#current = new Gauge({
      name: 'confighash_agent_config_current',
      help: 'Whether the program runs the configuration on disk now (1) or not yet (0).',
      registers,
    });
  }

  runsCurrent(current: boolean): void {
    this.#current.set(current ? 1 : 0);
  }

  reloadResult(result: 'success' | 'failure'): void {
    this.#reloads.inc({ result });
    if (result === 'success') this.#lastSuccess.set(Date.now() / 1000);
  }
}
