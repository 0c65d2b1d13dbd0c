/**
 * Audit retention (audit.retention): the serving process deletes events older than the retention
 * now and then, and records that it did so in the log itself. Several instances sharing one store
 * may all prune: a prune is idempotent.
 */
import { appendAudit } from './audit.js';
import { poller } from './poller.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

const HOUR = 3_600_000;

/** Prunes once; returns how many events went. Writes an `audit.prune` event when any did. */
export async function pruneAuditOnce(deps: { store: Store; clock: Clock; retentionMs: number }): Promise<number> {
  const now = deps.clock.now();
  const before = now - deps.retentionMs;
  const removed = await deps.store.pruneAudit(before);
  if (removed > 0) {
    await appendAudit(deps.store, deps.clock, {
      ts: now,
      type: 'audit.prune',
      outcome: 'ok',
      detail: { removed, before, retentionMs: deps.retentionMs },
    });
  }
  return removed;
}

/** Prunes at start and then every `intervalMs` (default hourly); returns a stop function. */
export function watchRetention(deps: {
  store: Store;
  clock: Clock;
  retentionMs: number;
  intervalMs?: number;
  onPruned?: (removed: number) => void;
  onError?: (e: Error) => void;
}): () => void {
  return poller(
    async () => {
      const removed = await pruneAuditOnce(deps);
      if (removed > 0) deps.onPruned?.(removed);
    },
    { intervalMs: deps.intervalMs ?? HOUR, start: 'soon', onError: deps.onError },
  );
}
