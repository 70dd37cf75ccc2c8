import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencyChart, memoryChart, niceCeiling } from './chart.ts';
import { summary } from './report.ts';
import type { ScenarioResult } from './results.ts';

const machine = { cpu: 'Test CPU', cores: 2, memoryGiB: 24, kernel: 'Linux 6', node: 'v24.0.0', kubernetes: 'v1.35.4' };
const distribution = { count: 100, median: 1.5, p95: 3, p99: 4, max: 9, mean: 1.8 };

function result(overrides: Partial<ScenarioResult>): ScenarioResult {
  return {
    scenario: 'admission',
    title: 'Admission latency and throughput',
    quick: false,
    startedAt: '2026-11-22T00:00:00.000Z',
    seconds: 10,
    machine,
    settings: { rates: '50, 200' },
    latencies: [{ name: 'admission at 200/s', distribution }],
    tables: [{ title: 'Latency', columns: ['load', 'p99'], rows: [['200/s', 4]] }],
    targets: [{ name: 'admission p99 at 200/s', kind: 'performance', goal: '≤ 10 ms', measured: '4 ms', met: true }],
    data: {},
    ...overrides,
  };
}

describe('benchmark report', () => {
  it('lists every target with what was measured, then each scenario with its tables', () => {
    const missed = result({
      scenario: 'scale',
      title: 'Scale',
      targets: [
        {
          name: 'RSS',
          kind: 'performance',
          goal: '≤ 150 MiB',
          measured: '180 MiB',
          met: false,
          note: 'the client library alone is 90 MiB',
        },
      ],
    });
    const text = summary([result({}), missed]);
    assert.match(text, /^Full run started 2026-11-22T00:00:00.000Z, on Test CPU \(2 cores\), 24 GiB/m);
    assert.match(text, /^\| admission \| admission p99 at 200\/s \| ≤ 10 ms \| 4 ms \| yes \|$/m);
    assert.match(
      text,
      /^\| scale \| RSS \| ≤ 150 MiB \| 180 MiB \(the client library alone is 90 MiB\) \| \*\*no\*\* \|$/m,
    );
    assert.match(
      text,
      /^## Admission latency and throughput\n\nStarted 2026-11-22T00:00:00.000Z, 10 s\. Settings: rates 50, 200\.\n\nLatency:\n\n\| load \| p99 \|\n\|---\|---\|\n\| 200\/s \| 4 \|$/m,
    );
  });

  it('charts each latency series as its four percentiles', () => {
    const svg = latencyChart([
      result({
        latencies: [
          { name: 'a', distribution },
          { name: 'b', distribution },
        ],
      }),
    ]);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<circle [^>]*><title>/g)?.length, 8);
    assert.match(svg, /<title>p99 4 ms<\/title>/);
  });

  it('charts memory against the number of sources, when a scenario measured growth', () => {
    assert.equal(memoryChart([result({})]), undefined);
    const growth = [
      { sources: 1000, dataMiB: 26, rssMiB: 120, heapUsedMiB: 40 },
      { sources: 20_000, dataMiB: 530, rssMiB: 140, heapUsedMiB: 60 },
    ];
    const svg = memoryChart([result({ scenario: 'scale', data: { growth } })]) ?? '';
    assert.equal(svg.match(/<polyline /g)?.length, 3);
    assert.match(svg, /<title>confighash RSS: 140 MiB at 20000 sources<\/title>/);
  });

  it('rounds axes up to 1, 2 or 5 times a power of ten', () => {
    assert.deepEqual([0.5, 1, 3, 7, 530, 1000].map(niceCeiling), [1, 1, 5, 10, 1000, 1000]);
  });
});
