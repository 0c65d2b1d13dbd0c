/**
 * The loop every watcher of the core runs (revocations, live policy, unblocks, notices, unused
 * passcodes, audit retention): one poll at a time, every `intervalMs`, the timer never holding the
 * process open, a failed poll reported and the next one tried as usual. With `wake` (pushes from
 * other instances, src/shared/push.ts) a poll starts at once; a push that arrives during a poll
 * gets one more poll right after it, never a second one in parallel.
 */

export interface PollerOptions {
  intervalMs: number;
  /**
   * The first poll: 'now' (default; begun before poller() returns, so nothing written after the
   * call can slip past a watcher that starts after the newest event), 'soon' (next turn of the
   * event loop: start-up work that may wait) or 'interval' (at the first interval or wake).
   */
  start?: 'now' | 'soon' | 'interval';
  wake?: (listener: () => void) => void;
  onError?: (e: Error) => void;
}

/** Starts polling; returns the stop function. */
export function poller(poll: () => Promise<void>, o: PollerOptions): () => void {
  let running = false;
  let again = false;
  let stopped = false;
  const tick = async (): Promise<void> => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await poll();
    } catch (e) {
      o.onError?.(e as Error);
    } finally {
      running = false;
    }
    if (again) {
      again = false;
      await tick();
    }
  };
  o.wake?.(() => void tick());
  const start = o.start ?? 'now';
  if (start === 'now') void tick();
  const first = start === 'soon' ? setTimeout(() => void tick(), 0) : null;
  const timer = setInterval(() => void tick(), o.intervalMs);
  first?.unref();
  timer.unref();
  return () => {
    stopped = true;
    if (first) clearTimeout(first);
    clearInterval(timer);
  };
}
