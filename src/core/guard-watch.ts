/**
 * Lifting blocks from another process: `mailgate unblock IP` writes an `admin.unblock` audit event
 * (the audit log is the record of admin actions anyway), which the serving process picks up here
 * and applies to its guard.
 */
import type { Guard } from './guard-port.js';
import { poller } from './poller.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

/** Polls the audit log for `admin.unblock` events and lifts those blocks; returns the stop function. */
export function watchUnblocks(deps: {
  store: Store;
  guard: Guard;
  clock: Clock;
  intervalMs?: number;
  onError?: (e: Error) => void;
  /** Subscribes to pushes from other instances (src/shared/push.ts): poll at once, not at the next tick. */
  wake?: (listener: () => void) => void;
  /** Called before acting on a change found (the row cache forgets its rows: the next read is the store's). */
  onChange?: () => void;
}): () => void {
  let afterId: number | null = null;
  return poller(
    async () => {
      if (afterId === null) {
        // Start after the newest event: unblocks from before this process started are moot.
        afterId = (await deps.store.queryAudit({ limit: 1 })).at(-1)?.id ?? 0;
        return;
      }
      const events = await deps.store.queryAudit({ type: 'admin.unblock', afterId, limit: 100, oldestFirst: true });
      if (events.length) deps.onChange?.();
      for (const e of events) {
        afterId = Math.max(afterId, e.id ?? 0);
        const source = typeof e.detail?.source === 'string' ? e.detail.source : null;
        if (source) await deps.guard.unblock(source);
      }
    },
    { intervalMs: deps.intervalMs ?? 500, wake: deps.wake, onError: deps.onError },
  );
}
