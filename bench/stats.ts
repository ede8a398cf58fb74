/** Summary statistics of the benchmarks, in milliseconds. */

/** Percentiles of one measure over the runs, in milliseconds. */
export interface Summary {
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of `values` (not empty). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

export function summarize(values: readonly number[]): Summary {
  if (!values.length) return { p50: 0, p99: 0, max: 0 };
  return { p50: percentile(values, 50), p99: percentile(values, 99), max: percentile(values, 100) };
}
