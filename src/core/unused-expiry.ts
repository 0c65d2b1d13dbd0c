/**
 * passcodes.expire_unused: a passcode nobody has used for that long stops working. Logins check
 * the deadline themselves (authenticate.ts), so it holds to the millisecond; this sweep, run now
 * and then by the serving process, does the rest:
 *  - a week before, it records `passcode.unused-expiring`, which core/notify.ts turns into a
 *    notice in the owner's INBOX (once per stretch of non-use: a login in between re-arms it);
 *  - at the deadline it writes the expiry into the passcode (`passcode.expire-unused`), so the
 *    lapse is final even if the setting is later turned off, and listings show it as expired.
 */
import { appendAudit } from './audit.js';
import { poller } from './poller.js';
import { UNUSED_WARNING_MS, unusedDeadline } from './passcode-limits.js';
import type { Clock } from './types.js';
import type { PasscodeRow, Store } from '../store/types.js';

export interface UnusedSweepDeps {
  store: Store;
  clock: Clock;
  expireUnusedMs: number;
  /** Passcodes handled per step and sweep; the rest wait for the next sweep. */
  batch?: number;
}

/** One sweep; returns how many passcodes were warned and how many lapsed. */
export async function sweepUnusedPasscodes(deps: UnusedSweepDeps): Promise<{ warned: number; expired: number }> {
  const { store, clock, expireUnusedMs } = deps;
  const batch = deps.batch ?? 500;
  const now = clock.now();
  const record = (type: string, row: PasscodeRow, at: number) =>
    appendAudit(store, clock, {
      type,
      username: row.username,
      passcodeId: row.id,
      outcome: 'ok',
      detail: { name: row.name, lastUsedAt: row.lastUsedAt, unusedExpiresAt: at },
    });
  let expired = 0;
  // +1: a passcode lapses at its deadline (as logins see it), and the query is strictly before.
  for (const row of await store.unusedPasscodes(now - expireUnusedMs + 1, now, batch)) {
    const at = unusedDeadline(row, expireUnusedMs)!;
    if (!(await store.updatePasscode(row.username, row.id, { expiresAt: Math.min(at, row.expiresAt ?? at) }))) continue;
    expired++;
    await record('passcode.expire-unused', row, at);
  }
  let warned = 0;
  for (const row of await store.unusedPasscodes(now - expireUnusedMs + UNUSED_WARNING_MS, now, batch)) {
    const at = unusedDeadline(row, expireUnusedMs)!;
    const since = row.lastUsedAt ?? row.createdAt;
    // Already told about this stretch of non-use, or it expires earlier anyway.
    if ((row.unusedWarnedAt ?? -1) >= since || (row.expiresAt !== null && row.expiresAt <= at)) continue;
    if (!(await store.updatePasscode(row.username, row.id, { unusedWarnedAt: now }))) continue;
    warned++;
    await record('passcode.unused-expiring', row, at);
  }
  return { warned, expired };
}

/** Sweeps at start and then every `intervalMs` (default an hour); returns the stop function. */
export function watchUnusedPasscodes(deps: UnusedSweepDeps & { intervalMs?: number; onError?: (e: Error) => void }): () => void {
  return poller(
    async () => {
      await sweepUnusedPasscodes(deps);
    },
    { intervalMs: deps.intervalMs ?? 3_600_000, onError: deps.onError },
  );
}
