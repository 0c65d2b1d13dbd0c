/**
 * Observe mode's record: each main-password login the upstream accepted for an account that the
 * rollout policy observes is one that would break once the account is enforced. It is counted
 * per (account, protocol, client name, address) for `mailgate report rollout`, and the first one
 * of an account asks for the one rollout notice into its mailbox (an audit event the notice
 * watcher turns into a message, core/notify.ts).
 *
 * Off the answer path: the login is answered while the write runs; a failed write is reported
 * to `onError` (logged by main.ts), never thrown and never silently dropped.
 */
import { appendAudit } from './audit.js';
import type { ModeAt } from './rollout.js';
import type { AuthRequest, Clock } from './types.js';
import type { ObservationRow, Store } from '../store/types.js';

/** Client names are untrusted input (IMAP ID, EHLO): bounded before they are stored. */
const MAX_CLIENT = 200;

export interface Observer {
  /** Records a would-break login of `account` (canonical); returns at once. */
  wouldBreak(req: AuthRequest, account: string, mode: ModeAt): void;
  /** Resolves when every write started so far has finished (tests, shutdown). */
  idle(): Promise<void>;
}

export interface ObserverDeps {
  store: Store;
  clock: Clock;
  /** Send the rollout notice (notify.enabled): without a watcher to deliver it, none is marked sent. */
  notices: boolean;
  onError: (err: Error, account: string) => void;
}

/** "Thunderbird 115.3 (imap)" / "a mail app that gave no name (pop3)", newest first, each once. */
export function clientList(rows: readonly ObservationRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) seen.add(`${r.client ?? 'a mail app that gave no name'} (${r.protocol})`);
  return [...seen];
}

/** The observer the authenticator calls; see the file comment. */
export function createObserver(deps: ObserverDeps): Observer {
  const { store, clock } = deps;
  /** Accounts whose notice this process has seen marked: no store round trip per login for them. */
  const noticed = new Set<string>();
  const pending = new Set<Promise<void>>();

  const record = async (req: AuthRequest, account: string, mode: ModeAt): Promise<void> => {
    const at = clock.now();
    // The SQLite store writes synchronously: wait a turn, so the front has sent its answer first.
    await new Promise((r) => setImmediate(r));
    const client = req.clientId ? req.clientId.slice(0, MAX_CLIENT) : null;
    await store.recordObservation({ username: account, protocol: req.protocol, client, ip: req.remoteIp, at });
    if (!deps.notices || noticed.has(account)) return;
    noticed.add(account);
    // The mark is a compare-and-set: of several instances seeing the first login, one sends.
    if (!(await store.markRolloutNotice(account, at))) return;
    const clients = clientList(await store.listObservations(account));
    await appendAudit(store, clock, {
      type: 'rollout.notice',
      username: account,
      protocol: req.protocol,
      ip: req.remoteIp,
      outcome: 'ok',
      detail: { from: mode.from, clients },
    });
  };

  return {
    wouldBreak(req, account, mode) {
      const p = record(req, account, mode)
        .catch((e: Error) => deps.onError(e, account))
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async idle() {
      await Promise.all([...pending]);
    },
  };
}
