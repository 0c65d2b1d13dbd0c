/**
 * Live authenticated sessions, registered by account and passcode, so that revoking a passcode
 * ends the sessions it opened (a stolen laptop's mail app must not keep syncing), and so that
 * policy changes reach them (core/livepolicy.ts).
 */
import type { Protocol } from './types.js';

export interface LiveSession {
  id: string;
  account: string;
  passcodeId: string | null;
  protocol: Protocol;
  remoteIp: string;
  since: number;
  /** When the passcode it logged in with expires (null/absent: no expiry, or a main-password session). */
  expiresAt?: number | null;
  /** Ends the session (the front sends its protocol's goodbye where it can). */
  close(reason: string): void;
}

/** Which sessions to count: an account's, a passcode's, or (neither) all. */
export interface SessionFilter {
  account?: string;
  passcodeId?: string;
}

/**
 * Sessions held elsewhere (the other workers of `serve --workers N`, runtime/cluster-sessions.ts)
 * that `count` adds in. Every session of a passcode belongs to that passcode's account.
 */
export interface RemoteSessionCounts {
  count(filter: SessionFilter): number;
}

/** One count of this registry changed: `key` (an account or a passcode id) now has `n` sessions. */
export type CountListener = (dim: 'account' | 'passcode', key: string, n: number) => void;

export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();
  // Kept as sessions come and go, so counts cost O(1) and each change can be reported as it happens.
  private readonly byAccount = new Map<string, number>();
  private readonly byPasscode = new Map<string, number>();
  private readonly listeners = new Set<CountListener>();
  private remote: RemoteSessionCounts | null = null;

  /** Registers a session; the returned function unregisters it (call it when the socket closes). */
  register(s: LiveSession): () => void {
    this.remove(s.id); // a reused id replaces the old entry, counted once
    this.sessions.set(s.id, s);
    this.bump('account', this.byAccount, s.account, 1);
    if (s.passcodeId !== null) this.bump('passcode', this.byPasscode, s.passcodeId, 1);
    return () => {
      // Closing by passcode or policy already removed it; the socket's close must not count it twice.
      if (this.sessions.get(s.id) === s) this.remove(s.id);
    };
  }

  get size(): number {
    return this.sessions.size;
  }

  list(filter: SessionFilter = {}): LiveSession[] {
    return [...this.sessions.values()].filter(
      (s) =>
        (filter.account === undefined || s.account === filter.account) &&
        (filter.passcodeId === undefined || s.passcodeId === filter.passcodeId),
    );
  }

  /** How many live sessions match, here and (when a remote source is set) in the other workers. */
  count(filter: SessionFilter = {}): number {
    return this.localCount(filter) + (this.remote?.count(filter) ?? 0);
  }

  /** How many live sessions of this process match. */
  localCount(filter: SessionFilter = {}): number {
    const { account, passcodeId } = filter;
    if (account !== undefined && passcodeId !== undefined) return this.list(filter).length;
    if (passcodeId !== undefined) return this.byPasscode.get(passcodeId) ?? 0;
    if (account !== undefined) return this.byAccount.get(account) ?? 0;
    return this.sessions.size;
  }

  /** Adds the sessions of other processes to `count` (worker 0 of a cluster: the portal's counts). */
  setRemote(remote: RemoteSessionCounts | null): void {
    this.remote = remote;
  }

  /** Calls `listener` on every change of an account's or a passcode's count; returns the unsubscribe. */
  onCountChange(listener: CountListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Closes this process's sessions opened with that passcode (each worker's revocation watcher ends its own); returns how many. */
  closeByPasscode(passcodeId: string, reason: string): number {
    return this.closeWhere((s) => s.passcodeId === passcodeId, reason);
  }

  /** Closes every session `pred` selects; returns how many. */
  closeWhere(pred: (s: LiveSession) => boolean, reason: string): number {
    const hits = [...this.sessions.values()].filter(pred);
    for (const s of hits) {
      this.remove(s.id);
      s.close(reason);
    }
    return hits.length;
  }

  closeAll(reason: string): void {
    this.closeWhere(() => true, reason);
  }

  private remove(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.sessions.delete(id);
    this.bump('account', this.byAccount, s.account, -1);
    if (s.passcodeId !== null) this.bump('passcode', this.byPasscode, s.passcodeId, -1);
  }

  private bump(dim: 'account' | 'passcode', counts: Map<string, number>, key: string, by: number): void {
    const n = (counts.get(key) ?? 0) + by;
    if (n > 0) counts.set(key, n);
    else counts.delete(key); // an account seen once must not stay in memory (or in reports) for ever
    for (const l of this.listeners) l(dim, key, n);
  }
}
