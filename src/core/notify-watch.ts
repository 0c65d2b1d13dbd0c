/**
 * Follows the audit log and hands a notice for each security event to a sink (the IMAP APPEND
 * into the owner's INBOX, wired in main.ts). Following the log rather than hooking the actions
 * means changes made by another process — the CLI writing to the same database — are notified
 * by the serving process too, like `watchUnblocks`.
 *
 * Delivery is at most once: the cursor moves past an event before its notice is sent, so a
 * failure is logged and never retried or re-sent. Deliveries run concurrently up to a bound, so
 * one slow or hanging upstream never holds back the next notice.
 */
import { buildNotification, type NotifySettings } from './notify.js';
import { poller } from './poller.js';
import type { Store } from '../store/types.js';

/** Where notices go. The core knows only this; the IMAP implementation lives in protocols/imap. */
export interface NotificationSink {
  deliver(account: string, message: string): Promise<void>;
}

export interface NotifyWatchDeps {
  store: Store;
  sink: NotificationSink;
  settings: NotifySettings;
  intervalMs?: number;
  /** Audit events read per query; a tick reads at most a few batches. */
  batch?: number;
  /** Deliveries in flight at once; beyond it, reading pauses until one finishes. */
  maxInFlight?: number;
  onDelivered?: (info: { account: string; type: string; eventId: number }) => void;
  /** A notice could not be delivered (the action itself has succeeded long ago). */
  onDeliveryError?: (err: Error, info: { account: string; type: string; eventId: number }) => void;
  /** The audit log could not be read. */
  onError?: (err: Error) => void;
}

const BATCHES_PER_TICK = 5;

/** Starts following the audit log after its newest event; returns the stop function. */
export function watchNotifications(deps: NotifyWatchDeps): () => void {
  const batch = deps.batch ?? 200;
  const maxInFlight = deps.maxInFlight ?? 8;
  let afterId: number | null = null;
  let inFlight = 0;
  let stopped = false;

  const dispatch = (account: string, type: string, eventId: number, message: string) => {
    inFlight++;
    const info = { account, type, eventId };
    // Never awaited by the tick: a slow upstream delays only its own notice.
    deps.sink
      .deliver(account, message)
      .then(
        () => deps.onDelivered?.(info),
        (err: Error) => deps.onDeliveryError?.(err, info),
      )
      .finally(() => {
        inFlight--;
      });
  };

  const poll = async (): Promise<void> => {
    if (afterId === null) {
      // Start after the newest event: what happened before this process started is not re-sent.
      afterId = (await deps.store.queryAudit({ limit: 1 })).at(-1)?.id ?? 0;
      return;
    }
    for (let b = 0; b < BATCHES_PER_TICK && inFlight < maxInFlight && !stopped; b++) {
      const events = await deps.store.queryAudit({ afterId, limit: batch, oldestFirst: true });
      for (const e of events) {
        if (inFlight >= maxInFlight || stopped) break; // the rest waits for the next tick
        afterId = Math.max(afterId, e.id ?? 0);
        const n = buildNotification(e, deps.settings);
        if (n) dispatch(n.account, e.type, e.id ?? 0, n.message);
      }
      if (events.length < batch) break;
    }
  };
  const stop = poller(poll, { intervalMs: deps.intervalMs ?? 500, onError: deps.onError });
  return () => {
    stopped = true;
    stop();
  };
}
