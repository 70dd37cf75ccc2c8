// What a benchmark scenario reports: its settings, latency distributions, tables
// for the summary, the targets it was measured against, and its raw figures.
import type { Machine } from './machine.ts';
import type { Distribution } from './stats.ts';

export interface LatencySeries {
  name: string;
  /** Milliseconds. */
  distribution: Distribution;
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
}

export interface TargetCheck {
  name: string;
  /** Correctness checks must hold in every run, quick ones included; performance targets are reported. */
  kind: 'correctness' | 'performance';
  /** The target, as the issue states it, e.g. "≤ 2 ms". */
  goal: string;
  measured: string;
  met: boolean;
  /** Why a target was missed, or what qualifies the figure. */
  note?: string;
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  quick: boolean;
  startedAt: string;
  seconds: number;
  machine: Machine;
  settings: Record<string, string | number>;
  latencies: LatencySeries[];
  tables: Table[];
  targets: TargetCheck[];
  /** Scenario-specific figures (e.g. memory per object count), for charts and for later comparison. */
  data: Record<string, unknown>;
}

/** Lets a scenario report progress without depending on where it is printed. */
export interface BenchContext {
  quick: boolean;
  /** Run confighash from dist/ (built by `npm run bench`) with the image's node flags, as production runs it. */
  fromDist: boolean;
  log(line: string): void;
}

/** What a scenario itself reports; the runner adds when, where and how long. */
export type ScenarioReport = Omit<ScenarioResult, 'machine' | 'quick' | 'startedAt' | 'seconds'>;

export type Scenario = (context: BenchContext) => Promise<ScenarioReport>;
