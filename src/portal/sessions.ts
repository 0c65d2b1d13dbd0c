/**
 * Portal browser sessions, kept server-side in the store. The cookie holds 256 random bits; the
 * store holds only their SHA-256, so a copy of the database hands out no live session. A session
 * expires after an idle time and after an absolute time, whichever comes first, and the
 * half-signed-in stage (password checked, code still due) lives only a few minutes. The id
 * changes whenever the session gains privilege (sign-in, second factor): no session fixation.
 */
import { createHash } from 'node:crypto';
import type { Clock, RandomBytes } from '../core/types.js';
import type { PortalSessionRow, Store } from '../store/types.js';
import { sameSecret } from './csrf.js';
import { cookie, type CookieOptions } from './http.js';

export interface SessionTimeouts {
  idleMs: number;
  absoluteMs: number;
  /** Absolute lifetime of the "password checked, second factor due" stage. */
  pendingMs: number;
}

export const DEFAULT_TIMEOUTS: SessionTimeouts = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000, pendingMs: 10 * 60_000 };

export const SESSION_COOKIE = 'mailgate_session';

export type LoadResult = { kind: 'none' } | { kind: 'expired' } | { kind: 'ok'; row: PortalSessionRow };

export class PortalSessions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly random: RandomBytes,
    private readonly timeouts: SessionTimeouts,
    private readonly cookieOptions: Omit<CookieOptions, 'maxAgeSeconds'>,
  ) {}

  private static hash(raw: string): string {
    return createHash('sha256').update(raw).digest('hex');
  }

  /** Finds the session of a cookie value; expired ones are deleted and reported as such. */
  async load(raw: string | undefined): Promise<LoadResult> {
    if (!raw || raw.length > 100) return { kind: 'none' };
    const id = PortalSessions.hash(raw);
    const row = await this.store.getPortalSession(id);
    if (!row) return { kind: 'expired' };
    const now = this.clock.now();
    const t = this.timeouts;
    const dead =
      row.stage === 'password' ? now - row.createdAt > t.pendingMs : now - row.lastSeenAt > t.idleMs || now - row.createdAt > t.absoluteMs;
    if (dead) {
      await this.store.deletePortalSession(id);
      return { kind: 'expired' };
    }
    await this.store.touchPortalSession(id, now);
    return { kind: 'ok', row: { ...row, lastSeenAt: now } };
  }

  /** Starts a session; returns the row and the Set-Cookie header value. */
  async start(
    username: string,
    stage: PortalSessionRow['stage'],
    ip: string | null,
  ): Promise<{ row: PortalSessionRow; setCookie: string }> {
    const raw = this.random(32).toString('base64url');
    const now = this.clock.now();
    const row: PortalSessionRow = {
      id: PortalSessions.hash(raw),
      username,
      stage,
      csrf: this.random(32).toString('base64url'),
      ip,
      createdAt: now,
      lastSeenAt: now,
    };
    await this.store.createPortalSession(row);
    return { row, setCookie: cookie(SESSION_COOKIE, raw, this.cookieOptions) };
  }

  /** Second factor passed: a new id and token, stage complete; the old session is gone. */
  async elevate(old: PortalSessionRow): Promise<{ row: PortalSessionRow; setCookie: string }> {
    await this.store.deletePortalSession(old.id);
    return this.start(old.username, 'complete', old.ip);
  }

  async end(row: PortalSessionRow): Promise<void> {
    await this.store.deletePortalSession(row.id);
  }

  /** Whether a form's token is this session's (constant time). */
  sameCsrf(row: PortalSessionRow, token: string): boolean {
    return sameSecret(row.csrf, token);
  }

  clearCookie(): string {
    return cookie(SESSION_COOKIE, '', { ...this.cookieOptions, maxAgeSeconds: 0 });
  }

  /** Deletes expired sessions (called on a timer). */
  async prune(): Promise<number> {
    const now = this.clock.now();
    return this.store.prunePortalSessions(now - this.timeouts.idleMs, now - this.timeouts.absoluteMs);
  }
}
