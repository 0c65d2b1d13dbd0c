/**
 * Small statistics for the benchmark: percentiles of latency samples and the median across
 * rounds. Rounds are summarised by their median (robust against one noisy round on a shared
 * 2-core machine), never by the mean.
 */

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Median of finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

export interface LatencySummary { n: number; p50: number; p99: number; max: number }

/** p50/p99/max of latency samples in milliseconds. */
export function latency(samplesMs: readonly number[]): LatencySummary {
  return {
    n: samplesMs.length,
    p50: percentile(samplesMs, 50),
    p99: percentile(samplesMs, 99),
    max: samplesMs.length ? Math.max(...samplesMs) : Number.NaN,
  };
}

/** Milliseconds elapsed since a process.hrtime.bigint() start. */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Ratio b/a, NaN when either side is missing. */
export function ratio(direct: number, gate: number): number {
  return Number.isFinite(direct) && Number.isFinite(gate) && direct !== 0 ? gate / direct : Number.NaN;
}
