// `npm run bench`: every scenario on a local control plane started for the run,
// confighash built and run as the image runs it. Writes bench/results/<scenario>.json,
// summary.md and the charts. Flags: --quick (small counts: a correctness check,
// not a measurement), --only=admission,reaction,..., --compare=reloader (the
// side-by-side with stakater Reloader instead of the scenarios; it needs Reloader's
// source, see bench/reloader.ts) and --out=DIR (default bench/results/, which holds
// the committed figures; a --quick run writes to a new temporary directory instead).
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs } from 'node:util';
import { binaryDir } from '../test/cluster/binaries.ts';
import { launchControlPlane, stopControlPlane } from '../test/cluster/launcher.ts';
import { latencyChart, memoryChart } from './chart.ts';
import { ensureReloader } from './reloader.ts';
import { summary } from './report.ts';
import {
  COMPARISONS,
  type ComparisonName,
  RESULT_NAMES,
  runScenario,
  SCENARIOS,
  type ScenarioName,
} from './scenarios/index.ts';
import type { Scenario, ScenarioResult } from './results.ts';

async function latestResults(dir: string): Promise<ScenarioResult[]> {
  const found = await Promise.all(
    RESULT_NAMES.map((name) =>
      readFile(join(dir, `${name}.json`), 'utf8').then(
        (text) => JSON.parse(text) as ScenarioResult,
        () => undefined,
      ),
    ),
  );
  return found.filter((result) => result !== undefined);
}

const say = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    compare: { type: 'string' },
    out: { type: 'string' },
  },
});
const out =
  values.out ??
  (values.quick ? await mkdtemp(join(tmpdir(), 'confighash-bench-quick-')) : join(import.meta.dirname, 'results'));
function selected(): [string, Scenario][] {
  if (values.compare !== undefined) {
    const comparison = COMPARISONS[values.compare as ComparisonName] as Scenario | undefined;
    if (!comparison)
      throw new Error(`no comparison with ${values.compare}: choose from ${Object.keys(COMPARISONS).join(', ')}`);
    return [[`compare-${values.compare}`, comparison]];
  }
  const names = values.only?.split(',') ?? Object.keys(SCENARIOS);
  for (const name of names)
    if (!(name in SCENARIOS)) throw new Error(`no scenario ${name}: choose from ${Object.keys(SCENARIOS).join(', ')}`);
  return names.map((name) => [name, SCENARIOS[name as ScenarioName]]);
}
const runs = selected();
// What a comparison needs from outside this checkout, before any control plane starts.
if (values.compare === 'reloader') {
  try {
    await ensureReloader(say);
  } catch (error) {
    say(error instanceof Error ? error.message : String(error));
    process.exit(2);
  }
}

const handle = await launchControlPlane(await mkdtemp(join(tmpdir(), 'confighash-bench-cluster-')), false, say);
process.env['KUBECONFIG'] = handle.kubeconfig;
process.env['PATH'] = `${binaryDir()}${delimiter}${process.env['PATH'] ?? ''}`;
process.env['CONFIGHASH_TEST_CONTROL_PLANE'] = JSON.stringify(handle);
say(`local control plane ready at ${handle.server}`);

const results: ScenarioResult[] = [];
const crashed: string[] = [];
try {
  await mkdir(out, { recursive: true });
  for (const [name, scenario] of runs) {
    say(`\n== ${name}`);
    try {
      const result = await runScenario(scenario, {
        quick: values.quick,
        fromDist: !values.quick,
        log: (line) => {
          say(`  ${line}`);
        },
      });
      await writeFile(join(out, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
      results.push(result);
    } catch (error) {
      // One failed scenario must not cost the others' results.
      say(`  ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      crashed.push(name);
    }
  }
} finally {
  await stopControlPlane(handle);
}
// The summary and charts cover the latest result of every scenario in the directory,
// so that running one scenario again keeps the others' figures.
const latest = await latestResults(out);
await writeFile(join(out, 'summary.md'), summary(latest));
await writeFile(join(out, 'latency.svg'), latencyChart(latest));
const memory = memoryChart(latest);
if (memory) await writeFile(join(out, 'memory.svg'), memory);
say(`\nresults in ${out}: summary.md, latency.svg${memory ? ', memory.svg' : ''} and one JSON file per scenario`);
const failed = crashed
  .map((name) => `${name}: did not complete`)
  .concat(
    results.flatMap((r) =>
      r.targets.filter((t) => t.kind === 'correctness' && !t.met).map((t) => `${r.scenario}: ${t.name}`),
    ),
  );
if (failed.length > 0) {
  say(`correctness checks failed:\n  ${failed.join('\n  ')}`);
  process.exitCode = 1;
}
