/**
 * Lifting blocks from another process: `mailgate unblock IP` writes an `admin.unblock` audit event
 * (the audit log is the record of admin actions anyway), which the serving process picks up here
 * and applies to its guard.
 */
import type { AuthGuard } from './guard.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

/** Polls the audit log for `admin.unblock` events and lifts those blocks; returns the stop function. */
export function watchUnblocks(deps: {
  store: Store;
  guard: AuthGuard;
  clock: Clock;
  intervalMs?: number;
  onError?: (e: Error) => void;
}): () => void {
  let afterId: number | null = null;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      if (afterId === null) {
        // Start after the newest event: unblocks from before this process started are moot.
        afterId = (await deps.store.queryAudit({ limit: 1 })).at(-1)?.id ?? 0;
        return;
      }
      const events = await deps.store.queryAudit({ type: 'admin.unblock', afterId, limit: 100, oldestFirst: true });
      for (const e of events) {
        afterId = Math.max(afterId, e.id ?? 0);
        const source = typeof e.detail?.source === 'string' ? e.detail.source : null;
        if (source) deps.guard.unblock(source);
      }
    } catch (e) {
      deps.onError?.(e as Error);
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), deps.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}
