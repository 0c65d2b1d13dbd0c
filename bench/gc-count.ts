/**
 * Diagnostics for the gate process: garbage collections (perf_hooks 'gc' entries) by kind, with
 * their main-thread pauses, between `gc-start` and `gc-stop` on the control channel.
 */
import { constants } from 'node:perf_hooks';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

let counts: Record<string, { n: number; ms: number }> = {};
let observer: PerformanceObserver | null = null;

/** Starts counting from zero. */
export function startGcCounting(): void {
  counts = {};
  observer?.disconnect();
  observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number; flags?: number } }>) {
      // The flags say why (forced, all external memory, all available garbage …): part of the name.
      const kind = `${KINDS[e.detail?.kind ?? -1] ?? 'other'}${e.detail?.flags ? `/flags ${e.detail.flags}` : ''}`;
      const c = counts[kind] ?? { n: 0, ms: 0 };
      c.n++;
      c.ms += e.duration;
      counts[kind] = c;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** Stops; the collections per kind and their summed pauses (ms). */
export function stopGcCounting(): Record<string, { n: number; ms: number }> {
  observer?.disconnect();
  observer = null;
  // The heap as it is now (MB in place of counts): how close V8 runs to its limits.
  const h = getHeapStatistics();
  const m = process.memoryUsage();
  const mb = (b: number) => ({ n: Math.round(b / 2 ** 20), ms: 0 });
  return {
    ...counts,
    heapUsedMB: mb(h.used_heap_size),
    heapTotalMB: mb(h.total_heap_size),
    externalMB: mb(m.external),
    arrayBuffersMB: mb(m.arrayBuffers),
  };
}
