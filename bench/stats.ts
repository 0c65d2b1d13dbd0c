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

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

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

export interface LoopResult {
  samples: number[];
  errors: number;
  firstError: string | null;
  seconds: number;
}

/**
 * The bounded load loop every phase uses: `concurrency` workers run `op` until `max` operations
 * were started, `budgetMs` passed or `stop` is set; each success's latency is sampled. A worker
 * gives up when failures outnumber successes past `maxErrors` (something is broken: stop hammering).
 */
export async function timedLoop(
  o: { concurrency: number; max: number; budgetMs: number; maxErrors: number; stop?: { stopped: boolean } },
  op: () => Promise<void>,
): Promise<LoopResult> {
  const samples: number[] = [];
  let started = 0;
  let errors = 0;
  let firstError: string | null = null;
  const deadline = Date.now() + o.budgetMs;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (started < o.max && Date.now() < deadline && !o.stop?.stopped) {
        started++;
        const t = process.hrtime.bigint();
        try {
          await op();
          samples.push(msSince(t));
        } catch (e) {
          errors++;
          firstError ??= (e as Error).message;
          if (errors > o.maxErrors && errors > samples.length) return;
        }
      }
    }),
  );
  return { samples, errors, firstError, seconds: msSince(t0) / 1000 };
}
