import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { Metrics } from '../telemetry/metrics.ts';
import { RolloutPacing } from './rollout-pacing.ts';

function pacing(tokenDueInMs: () => number): {
  pacing: RolloutPacing;
  metrics: Metrics;
  given: number[];
  clock: { now: number };
} {
  const clock = { now: 1_000_000 };
  const given: number[] = [];
  const metrics = new Metrics(new Registry());
  const limiter = { take: tokenDueInMs, giveBack: () => void given.push(clock.now) };
  return {
    pacing: new RolloutPacing({ coalesceWindowMs: 2000, limiter, metrics, now: () => clock.now }),
    metrics,
    given,
    clock,
  };
}

const suppressed = async (metrics: Metrics, reason: string): Promise<number> =>
  (await metrics.rolloutsSuppressed.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;

describe('RolloutPacing', () => {
  it('holds a workload within the coalescing window of its last rollout, and no other', async () => {
    const { pacing: p, metrics, clock } = pacing(() => 0);
    assert.equal(p.take('a'), undefined);
    p.rolled('a');
    clock.now += 500;
    assert.deepEqual(p.take('a'), { reason: 'coalescing', waitMs: 1500 });
    assert.equal(p.take('b'), undefined, 'another workload');
    clock.now += 1500;
    assert.equal(p.take('a'), undefined);
    assert.equal(await suppressed(metrics, 'coalescing'), 1);
  });

  it("waits for the rate limit's next token, and gives an unused token back", async () => {
    let due = 300;
    const { pacing: p, metrics, given } = pacing(() => due);
    assert.deepEqual(p.take('a'), { reason: 'rate_limit', waitMs: 300 });
    due = 0;
    assert.equal(p.take('a'), undefined);
    p.giveBack();
    assert.equal(given.length, 1);
    assert.equal(await suppressed(metrics, 'rate_limit'), 1);
  });

  it("takes no token while coalescing, and forgets a workload's last rollout", () => {
    let taken = 0;
    const { pacing: p } = pacing(() => {
      taken++;
      return 0;
    });
    p.rolled('a');
    assert.equal(p.take('a')?.reason, 'coalescing');
    assert.equal(taken, 0);
    p.forget('a');
    assert.equal(p.take('a'), undefined);
    assert.equal(taken, 1);
  });
});
