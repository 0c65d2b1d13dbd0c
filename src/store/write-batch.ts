/**
 * The login path's writes (audit events, passcodes' last use) batched off the login path: they
 * are queued and written in one transaction per tick (`audit.write_batch`, 50 ms by default) or as
 * soon as `maxRows` are queued, so a login costs no synchronous store write and a storm of
 * logins costs one commit per tick, not one per login.
 *
 * Durability: `flush()` / `close()` write everything queued (serve calls close on SIGTERM/SIGINT
 * after draining), so nothing is lost on an orderly stop; a SIGKILL or a crash loses at most the
 * events of the last tick (docs/SECURITY.md). A failed batch is reported and its events retried
 * once with the next tick, then dropped (reported again) so a broken store cannot grow memory.
 */
import type { AuditEvent, PasscodeUse, Store } from './types.js';
import { overlayStore } from './overlay.js';

export interface WriteBatcher extends Pick<Store, 'appendAudit' | 'recordPasscodeUse'> {
  /** Writes everything queued now; resolves when it is committed. */
  flush(): Promise<void>;
  /** Flushes and stops the timer; later writes go straight to the store. */
  close(): Promise<void>;
  readonly queued: number;
  /** Would a read of audit events of `type` (any type: undefined) miss queued ones? */
  holds(type: string | undefined): boolean;
}

export interface WriteBatchOptions {
  /** How long a write may wait for its batch; 0 writes each one at once (no batching). */
  tickMs: number;
  /** A batch is written as soon as it holds this many rows. */
  maxRows?: number;
  onError?: (e: Error, rows: number) => void;
}

interface Queued {
  event: AuditEvent;
  resolve: (id: number) => void;
  reject: (e: Error) => void;
  retried: boolean;
}

/** Wraps `store`'s appendAudit/recordPasscodeUse in one-transaction-per-tick batches. */
export function batchWrites(store: Store, o: WriteBatchOptions): WriteBatcher {
  const maxRows = o.maxRows ?? 500;
  let audit: Queued[] = [];
  // Only the newest use of a passcode matters: a burst of logins with one passcode is one UPDATE.
  let uses = new Map<string, PasscodeUse>();
  let timer: NodeJS.Timeout | null = null;
  let writing: Promise<void> = Promise.resolve();
  /** The batch being committed right now: a read must wait for it as for the queue. */
  let inFlight: Queued[] = [];
  let closed = o.tickMs <= 0;

  const write = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (audit.length === 0 && uses.size === 0) return;
    const batch = audit;
    const batchUses = uses;
    audit = [];
    uses = new Map();
    inFlight = batch;
    try {
      const ids = await store.writeBatch({ audit: batch.map((q) => q.event), passcodeUses: [...batchUses.values()] });
      inFlight = [];
      for (const [i, q] of batch.entries()) q.resolve(ids[i]!);
    } catch (e) {
      inFlight = [];
      o.onError?.(e as Error, batch.length + batchUses.size);
      // Retried once with the next batch; a second failure gives up on these rows.
      for (const q of batch) if (q.retried) q.reject(e as Error);
      audit.unshift(...batch.filter((q) => !q.retried).map((q) => ({ ...q, retried: true })));
      if (audit.length > 0) schedule();
    }
  };
  /** Batches are written one after the other, so the audit log keeps the order of events. */
  const run = (): Promise<void> => {
    writing = writing.then(write);
    return writing;
  };
  const schedule = () => {
    if (audit.length + uses.size >= maxRows) void run();
    else if (!timer) {
      timer = setTimeout(() => void run(), o.tickMs);
      timer.unref(); // never keeps the process up: close() flushes on a clean stop
    }
  };

  return {
    appendAudit(event) {
      if (closed) return store.appendAudit(event);
      return new Promise<number>((resolve, reject) => {
        audit.push({ event, resolve, reject, retried: false });
        schedule();
      });
    },
    async recordPasscodeUse(id, at, ip, client) {
      if (closed) return store.recordPasscodeUse(id, at, ip, client);
      uses.set(id, { id, at, ip, client });
      schedule();
    },
    flush: run,
    async close() {
      closed = true;
      await run();
    },
    get queued() {
      return audit.length + uses.size;
    },
    holds(type) {
      const match = (q: Queued) => type === undefined || q.event.type === type;
      return audit.some(match) || inFlight.some(match);
    },
  };
}

/**
 * `store` as this process sees it with `w` in front: audit and passcode-list reads first commit
 * what is queued (when the read could see it), so the process reads its own writes (portal
 * activity, admin API, tests); the
 * login path's reads (getAccount, getPasscode) do not wait. Close commits the queue first.
 */
export function readsAfterWrites(store: Store, w: WriteBatcher): Store {
  const overrides: Partial<Store> = {
    async queryAudit(q) {
      // Followers of other event types (live policy, unblocks) do not force a commit.
      if (w.holds(q.type)) await w.flush();
      return store.queryAudit(q);
    },
    async listPasscodes(username) {
      await w.flush();
      return store.listPasscodes(username);
    },
    async close() {
      await w.close();
      await store.close();
    },
  };
  return overlayStore(store, overrides);
}
