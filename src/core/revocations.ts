/**
 * Revocations made by another process (the CLI, a second mailgate) reach the serving process
 * through the store: a cheap indexed poll drops cache entries and ends live sessions within
 * about one interval.
 */
import type { VerifiedCache } from './cache.js';
import type { AuthGuard } from './guard.js';
import type { SessionRegistry } from './sessions.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

export function watchRevocations(deps: { store: Store; cache: VerifiedCache; sessions: SessionRegistry; clock: Clock; intervalMs?: number; onError?: (e: Error) => void }): () => void {
  const seen = new Set<string>();
  // Look back a little further than the interval: clocks of two processes on one host agree, but
  // a write committed just as we polled must not be missed.
  let since = deps.clock.now() - 5_000;
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const now = deps.clock.now();
      for (const r of await deps.store.revokedSince(since)) {
        if (seen.has(r.id)) continue;
        seen.add(r.id);
        deps.cache.dropPasscode(r.id);
        deps.sessions.closeByPasscode(r.id, 'passcode revoked');
      }
      since = now - 5_000;
      if (seen.size > 10_000) seen.clear();
    } catch (e) {
      deps.onError?.(e as Error);
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void tick(), deps.intervalMs ?? 500);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * `mailgate unblock IP` runs in another process: it writes an `admin.unblock` audit event, which
 * the serving process picks up here. The audit log is the record of admin actions anyway.
 */
export function watchUnblocks(deps: { store: Store; guard: AuthGuard; clock: Clock; intervalMs?: number; onError?: (e: Error) => void }): () => void {
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
