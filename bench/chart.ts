// The benchmark charts as self-contained SVG (no plotting dependency): latency
// distributions on a log scale, and memory against the number of sources.
import type { ScenarioResult } from './results.ts';

export interface GrowthPoint {
  sources: number;
  dataMiB: number;
  rssMiB: number;
  heapUsedMiB: number;
}

const FONT = 'font-family="sans-serif" font-size="12"';
const COLOURS = { median: '#1b9e77', p95: '#7570b3', p99: '#d95f02', max: '#999999' } as const;

/** One row per latency series: median, p95, p99 and max on a shared log axis. */
export function latencyChart(results: readonly ScenarioResult[]): string {
  const series = results.flatMap((r) =>
    r.latencies.map((l) => ({ name: `${r.scenario}: ${l.name}`, d: l.distribution })),
  );
  const width = 960;
  const left = 380;
  const rowHeight = 26;
  const top = 40;
  const height = top + series.length * rowHeight + 50;
  const values = series.flatMap(({ d }) => [d.median, d.max]).filter((v) => v > 0);
  const low = 10 ** Math.floor(Math.log10(Math.min(...values, 1)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values, 10)));
  const x = (ms: number): number =>
    left +
    ((Math.log10(Math.max(ms, low)) - Math.log10(low)) / (Math.log10(high) - Math.log10(low))) * (width - left - 20);
  const parts = [
    `<text x="${left}" y="20" ${FONT} font-weight="bold">Latency (ms, log scale)</text>`,
    ...legend(left + 200, 20),
  ];
  for (let decade = low; decade <= high; decade *= 10) {
    parts.push(
      `<line x1="${x(decade)}" y1="${top - 5}" x2="${x(decade)}" y2="${height - 40}" stroke="#ddd"/>`,
      `<text x="${x(decade)}" y="${height - 25}" ${FONT} text-anchor="middle">${decade}</text>`,
    );
  }
  series.forEach(({ name, d }, i) => {
    const y = top + i * rowHeight + rowHeight / 2;
    parts.push(
      `<text x="${left - 10}" y="${y + 4}" ${FONT} text-anchor="end">${escape(name)}</text>`,
      `<line x1="${x(d.median)}" y1="${y}" x2="${x(d.max)}" y2="${y}" stroke="#bbb" stroke-width="2"/>`,
      ...(['median', 'p95', 'p99', 'max'] as const).map(
        (p) => `<circle cx="${x(d[p])}" cy="${y}" r="5" fill="${COLOURS[p]}"><title>${p} ${d[p]} ms</title></circle>`,
      ),
    );
  });
  return svg(width, height, parts);
}

/** RSS, V8 heap and the sources' data size against the number of sources; undefined without growth figures. */
export function memoryChart(results: readonly ScenarioResult[]): string | undefined {
  const growth = results.find((r) => Array.isArray(r.data['growth']))?.data['growth'] as GrowthPoint[] | undefined;
  if (!growth || growth.length < 2) return undefined;
  const width = 720;
  const height = 420;
  const box = { left: 70, right: width - 30, top: 50, bottom: height - 60 };
  const maxX = Math.max(...growth.map((p) => p.sources));
  const maxY = niceCeiling(Math.max(...growth.flatMap((p) => [p.dataMiB, p.rssMiB])));
  const x = (v: number): number => box.left + (v / maxX) * (box.right - box.left);
  const y = (v: number): number => box.bottom - (v / maxY) * (box.bottom - box.top);
  const line = (pick: (p: GrowthPoint) => number, colour: string, label: string): string[] => [
    `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${growth.map((p) => `${x(p.sources)},${y(pick(p))}`).join(' ')}"/>`,
    ...growth.map(
      (p) =>
        `<circle cx="${x(p.sources)}" cy="${y(pick(p))}" r="4" fill="${colour}"><title>${label}: ${pick(p)} MiB at ${p.sources} sources</title></circle>`,
    ),
  ];
  const parts = [
    `<text x="${box.left}" y="20" ${FONT} font-weight="bold">Memory (MiB) against the number of ConfigMaps and Secrets</text>`,
    `<line x1="${box.left}" y1="${box.bottom}" x2="${box.right}" y2="${box.bottom}" stroke="#333"/>`,
    `<line x1="${box.left}" y1="${box.top}" x2="${box.left}" y2="${box.bottom}" stroke="#333"/>`,
    ...[0, 0.25, 0.5, 0.75, 1].flatMap((f) => [
      `<text x="${box.left - 8}" y="${y(maxY * f) + 4}" ${FONT} text-anchor="end">${Math.round(maxY * f)}</text>`,
      `<line x1="${box.left}" y1="${y(maxY * f)}" x2="${box.right}" y2="${y(maxY * f)}" stroke="#eee"/>`,
    ]),
    ...growth.map(
      (p) => `<text x="${x(p.sources)}" y="${box.bottom + 18}" ${FONT} text-anchor="middle">${p.sources}</text>`,
    ),
    `<text x="${(box.left + box.right) / 2}" y="${height - 15}" ${FONT} text-anchor="middle">sources (ConfigMaps + Secrets)</text>`,
    ...line((p) => p.dataMiB, '#999999', 'data held by the sources'),
    ...line((p) => p.rssMiB, '#d95f02', 'confighash RSS'),
    ...line((p) => p.heapUsedMiB, '#1b9e77', 'confighash V8 heap used'),
    ...[
      ['#999999', 'data held by the sources'],
      ['#d95f02', 'confighash RSS'],
      ['#1b9e77', 'confighash V8 heap used'],
    ].map(
      ([colour, label], i) =>
        `<rect x="${box.left + 10}" y="${box.top + i * 18}" width="12" height="12" fill="${colour}"/><text x="${box.left + 28}" y="${box.top + i * 18 + 10}" ${FONT}>${label}</text>`,
    ),
  ];
  return svg(width, height, parts);
}

function legend(x: number, y: number): string[] {
  return Object.entries(COLOURS).map(
    ([name, colour], i) =>
      `<circle cx="${x + i * 80}" cy="${y - 4}" r="5" fill="${colour}"/><text x="${x + i * 80 + 10}" y="${y}" ${FONT}>${name}</text>`,
  );
}

function svg(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** 1, 2 or 5 times a power of ten, at least `value`. */
export function niceCeiling(value: number): number {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= value) ?? 10 * power;
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
