// The benchmark scenarios, in the order `npm run bench` runs them, and what the
// runner adds to each report: when, where, how long.
import { describeMachine } from '../machine.ts';
import type { BenchContext, Scenario, ScenarioResult } from '../results.ts';
import { admission } from './admission.ts';
import { compareReloader } from './compare.ts';
import { fanout } from './fanout.ts';
import { reaction } from './reaction.ts';
import { scale } from './scale.ts';

export const SCENARIOS = { admission, reaction, fanout, scale } satisfies Record<string, Scenario>;

/** Side-by-side runs with another controller, by `--compare <name>`; not part of a plain run. */
export const COMPARISONS = { reloader: compareReloader } satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;
export type ComparisonName = keyof typeof COMPARISONS;

/** Every result file a run may leave: one per scenario and per comparison. */
export const RESULT_NAMES: readonly string[] = [
  ...Object.keys(SCENARIOS),
  ...Object.keys(COMPARISONS).map((name) => `compare-${name}`),
];

export async function runScenario(scenario: Scenario, context: BenchContext): Promise<ScenarioResult> {
  const started = Date.now();
  const report = await scenario(context);
  return {
    ...report,
    quick: context.quick,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    machine: describeMachine(),
  };
}
