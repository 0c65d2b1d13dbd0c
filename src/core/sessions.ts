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

export class SessionRegistry {
  private readonly sessions = new Map<string, LiveSession>();

  /** Registers a session; the returned function unregisters it (call it when the socket closes). */
  register(s: LiveSession): () => void {
    this.sessions.set(s.id, s);
    return () => {
      this.sessions.delete(s.id);
    };
  }

  get size(): number {
    return this.sessions.size;
  }

  list(filter: { account?: string; passcodeId?: string } = {}): LiveSession[] {
    return [...this.sessions.values()].filter(
      (s) =>
        (filter.account === undefined || s.account === filter.account) &&
        (filter.passcodeId === undefined || s.passcodeId === filter.passcodeId),
    );
  }

  /** Closes every session opened with that passcode; returns how many. */
  closeByPasscode(passcodeId: string, reason: string): number {
    const hits = this.list({ passcodeId });
    for (const s of hits) {
      this.sessions.delete(s.id);
      s.close(reason);
    }
    return hits.length;
  }

  /** Closes every session `pred` selects; returns how many. */
  closeWhere(pred: (s: LiveSession) => boolean, reason: string): number {
    const hits = [...this.sessions.values()].filter(pred);
    for (const s of hits) {
      this.sessions.delete(s.id);
      s.close(reason);
    }
    return hits.length;
  }

  closeAll(reason: string): void {
    for (const s of [...this.sessions.values()]) {
      this.sessions.delete(s.id);
      s.close(reason);
    }
  }
}
