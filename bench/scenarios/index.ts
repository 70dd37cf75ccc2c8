// The benchmark scenarios, in the order `npm run bench` runs them, and what the
// runner adds to each report: when, where, how long.
import { describeMachine } from '../machine.ts';
import type { BenchContext, Scenario, ScenarioResult } from '../results.ts';
import { admission } from './admission.ts';
import { fanout } from './fanout.ts';
import { reaction } from './reaction.ts';
import { scale } from './scale.ts';

export const SCENARIOS = { admission, reaction, fanout, scale } satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;

export async function runScenario(name: ScenarioName, context: BenchContext): Promise<ScenarioResult> {
  const started = Date.now();
  const report = await SCENARIOS[name](context);
  return {
    ...report,
    quick: context.quick,
    startedAt: new Date(started).toISOString(),
    seconds: Math.round((Date.now() - started) / 100) / 10,
    machine: describeMachine(),
  };
}
