// Latency distributions as the benchmarks report them: nearest-rank percentiles
// over every sample (no histogram buckets, no interpolation), in milliseconds.

export interface Distribution {
  count: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** The nearest-rank `p`th percentile (0 < p ≤ 100) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function distribution(samples: readonly number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    median: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.at(-1) ?? Number.NaN),
    mean: round(sum / sorted.length),
  };
}

/** Three decimals: microseconds, when the unit is milliseconds. */
export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
