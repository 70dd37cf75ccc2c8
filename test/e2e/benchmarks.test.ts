// Every benchmark scenario in quick mode (small counts, from the sources): not a
// measurement, but a check that the benchmark still runs and that what it
// measures is correct (ReplicaSet counts, no failed admission, no 429, workloads
// current), so that `npm run bench` cannot rot between runs. The side-by-side
// comparisons (`--compare`) are not run here: they need another controller's
// source, which is no test dependency of ours.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runScenario, SCENARIOS } from '../../bench/scenarios/index.ts';

describe('benchmarks in quick mode', () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it(`${name}: runs, and every correctness check holds`, async (t) => {
      const result = await runScenario(scenario, {
        quick: true,
        fromDist: false,
        log: (line) => {
          t.diagnostic(line);
        },
      });
      const checks = result.targets.filter((target) => target.kind === 'correctness');
      assert.ok(checks.length > 0, 'the scenario checks something');
      for (const check of checks)
        assert.ok(
          check.met,
          `${check.name}: measured ${check.measured}, expected ${check.goal}${check.note ? ` (${check.note})` : ''}`,
        );
      for (const { name: series, distribution } of result.latencies)
        assert.ok(distribution.count > 0, `${series} has samples`);
    });
  }
});
