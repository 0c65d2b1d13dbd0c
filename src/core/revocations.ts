/**
 * Revocations made by another process (the CLI, a second mailgate) reach the serving process
 * through the store: a cheap indexed poll drops cache entries and ends live sessions within
 * about one interval.
 */
import type { VerifiedCache } from './cache.js';
import { poller } from './poller.js';
import type { SessionRegistry } from './sessions.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

/** Polls the store for revocations made elsewhere; returns the stop function. */
export function watchRevocations(deps: {
  store: Store;
  cache: VerifiedCache;
  sessions: SessionRegistry;
  clock: Clock;
  intervalMs?: number;
  onError?: (e: Error) => void;
  /** Subscribes to pushes from other instances (src/shared/push.ts): poll at once, not at the next tick. */
  wake?: (listener: () => void) => void;
  /** Called before acting on a change found (the row cache forgets its rows: the next read is the store's). */
  onChange?: () => void;
}): () => void {
  const seen = new Set<string>();
  // Look back a little further than the interval: clocks of two processes on one host agree, but
  // a write committed just as we polled must not be missed.
  let since = deps.clock.now() - 5_000;
  return poller(
    async () => {
      const now = deps.clock.now();
      const fresh = (await deps.store.revokedSince(since)).filter((r) => !seen.has(r.id));
      if (fresh.length) deps.onChange?.();
      for (const r of fresh) {
        seen.add(r.id);
        deps.cache.dropPasscode(r.id);
        deps.sessions.closeByPasscode(r.id, 'passcode revoked');
      }
      since = now - 5_000;
      if (seen.size > 10_000) seen.clear();
    },
    { intervalMs: deps.intervalMs ?? 500, start: 'interval', wake: deps.wake, onError: deps.onError },
  );
}
