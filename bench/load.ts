// Load for the admission benchmark: AdmissionReviews POSTed to the webhook over
// HTTPS with keep-alive, as kube-apiserver sends them. Open-loop at a fixed rate
// (each request is timed from when it was due, so a stalled server cannot hide
// its queue: no coordinated omission), or closed-loop at saturation.
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'undici';

export interface LoadTarget {
  url: string;
  /** PEM CA bundle the webhook's certificate chains to. */
  ca: string;
  /** A new AdmissionReview body for each request. */
  body: () => string;
  /** Throws if a response is not the expected answer. */
  check: (status: number, body: string) => void;
}

export interface LoadResult {
  /** Milliseconds, one per request. */
  latencies: number[];
  errors: number;
  firstError?: string;
  seconds: number;
}

/** Sends `rate` requests per second for `seconds`, over `connections` kept-alive connections. */
export async function openLoop(
  target: LoadTarget,
  rate: number,
  seconds: number,
  connections = 16,
): Promise<LoadResult> {
  const pool = newPool(target, connections);
  const tally = new Tally();
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let sent = 0; sent < total;) {
    const now = performance.now();
    // Everything due by now goes out at once; a late timer does not lower the rate.
    for (; sent < total && started + (sent * 1000) / rate <= now; sent++) {
      inFlight.push(tally.time(pool, target, started + (sent * 1000) / rate));
    }
    if (sent < total) await delay(Math.max(0, started + (sent * 1000) / rate - performance.now()));
  }
  await Promise.all(inFlight);
  await pool.close();
  return tally.result((performance.now() - started) / 1000);
}

/** Keeps `concurrency` requests in flight for `seconds`; the throughput is latencies.length / seconds. */
export async function closedLoop(target: LoadTarget, concurrency: number, seconds: number): Promise<LoadResult> {
  const pool = newPool(target, concurrency);
  const tally = new Tally();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) await tally.time(pool, target, performance.now());
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return tally.result((performance.now() - started) / 1000);
}

function newPool(target: LoadTarget, connections: number): Pool {
  const { origin } = new URL(target.url);
  return new Pool(origin, { connections, pipelining: 1, connect: { ca: target.ca } });
}

class Tally {
  readonly latencies: number[] = [];
  errors = 0;
  firstError: string | undefined;

  async time(pool: Pool, target: LoadTarget, due: number): Promise<void> {
    try {
      const { pathname } = new URL(target.url);
      const response = await pool.request({
        method: 'POST',
        path: pathname,
        headers: { 'content-type': 'application/json' },
        body: target.body(),
      });
      const text = await response.body.text();
      target.check(response.statusCode, text);
      this.latencies.push(performance.now() - due);
    } catch (error) {
      this.errors++;
      this.firstError ??= error instanceof Error ? error.message : String(error);
    }
  }

  result(seconds: number): LoadResult {
    return {
      latencies: this.latencies,
      errors: this.errors,
      seconds,
      ...(this.firstError === undefined ? {} : { firstError: this.firstError }),
    };
  }
}
