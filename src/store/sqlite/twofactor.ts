/**
 * The sqlite side of two-factor state: TOTP secrets, emergency codes, enrolment codes and
 * portal sessions (schema versions 2 and 3). Kept apart from index.ts so each file stays about
 * one thing; SqliteStore delegates to this class.
 */
import type { Database as Db } from 'better-sqlite3';
import type { EmergencyCodeRow, EnrolCodeRow, PortalSessionRow, TotpRow } from '../types.js';

interface TotpRecord {
  username: string;
  secret: string | null;
  enabled_at: number | null;
  last_step: number | null;
  pending_secret: string | null;
  pending_at: number | null;
}

interface CodeRecord {
  username: string;
  id: number;
  tag: string;
  hash: string;
  created_at: number;
  used_at: number | null;
}

interface EnrolRecord {
  username: string;
  tag: string;
  hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

interface SessionRecord {
  id: string;
  username: string;
  stage: string;
  csrf: string;
  ip: string | null;
  created_at: number;
  last_seen_at: number;
}

const toTotp = (r: TotpRecord): TotpRow => ({
  username: r.username,
  secret: r.secret,
  enabledAt: r.enabled_at,
  lastStep: r.last_step,
  pendingSecret: r.pending_secret,
  pendingAt: r.pending_at,
});

const toCode = (r: CodeRecord): EmergencyCodeRow => ({
  username: r.username,
  id: r.id,
  tag: r.tag,
  hash: r.hash,
  createdAt: r.created_at,
  usedAt: r.used_at,
});

const toEnrol = (r: EnrolRecord): EnrolCodeRow => ({
  username: r.username,
  tag: r.tag,
  hash: r.hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
});

const toSession = (r: SessionRecord): PortalSessionRow => ({
  id: r.id,
  username: r.username,
  stage: r.stage === 'complete' ? 'complete' : 'password',
  csrf: r.csrf,
  ip: r.ip,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
});

function prepare(db: Db) {
  const p = <T>(sql: string) => db.prepare<unknown[], T>(sql);
  return {
    getTotp: p<TotpRecord>('SELECT * FROM totp WHERE username = ?'),
    setPending: p(
      `INSERT INTO totp (username, pending_secret, pending_at) VALUES (?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET pending_secret = excluded.pending_secret, pending_at = excluded.pending_at`,
    ),
    activate: p(
      `UPDATE totp SET secret = pending_secret, enabled_at = ?, last_step = ?, pending_secret = NULL, pending_at = NULL
       WHERE username = ? AND pending_secret = ?`,
    ),
    // The comparison and the write are one statement: two requests racing with the same code
    // cannot both succeed.
    useStep: p(`UPDATE totp SET last_step = ? WHERE username = ? AND secret IS NOT NULL AND (last_step IS NULL OR last_step < ?)`),
    deleteTotp: p('DELETE FROM totp WHERE username = ?'),
    deleteCodes: p('DELETE FROM emergency_codes WHERE username = ?'),
    insertCode: p('INSERT INTO emergency_codes (username, id, tag, hash, created_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)'),
    listCodes: p<CodeRecord>('SELECT * FROM emergency_codes WHERE username = ? ORDER BY id'),
    useCode: p('UPDATE emergency_codes SET used_at = ? WHERE username = ? AND id = ? AND used_at IS NULL'),
    setEnrol: p(
      `INSERT INTO enrol_codes (username, tag, hash, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)
       ON CONFLICT (username) DO UPDATE SET tag = excluded.tag, hash = excluded.hash, created_at = excluded.created_at,
         expires_at = excluded.expires_at, used_at = NULL`,
    ),
    getEnrol: p<EnrolRecord>('SELECT * FROM enrol_codes WHERE username = ?'),
    useEnrol: p('UPDATE enrol_codes SET used_at = ? WHERE username = ? AND tag = ? AND used_at IS NULL AND expires_at > ?'),
    createSession: p(`INSERT INTO portal_sessions (id, username, stage, csrf, ip, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    getSession: p<SessionRecord>('SELECT * FROM portal_sessions WHERE id = ?'),
    touchSession: p('UPDATE portal_sessions SET last_seen_at = ? WHERE id = ?'),
    deleteSession: p('DELETE FROM portal_sessions WHERE id = ?'),
    deleteSessionsOf: p('DELETE FROM portal_sessions WHERE username = ?'),
    pruneSessions: p('DELETE FROM portal_sessions WHERE last_seen_at < ? OR created_at < ?'),
  };
}

export class TwoFactorTables {
  private readonly s: ReturnType<typeof prepare>;
  private readonly replaceTx: (username: string, codes: Array<{ tag: string; hash: string }>, at: number) => void;

  constructor(db: Db) {
    this.s = prepare(db);
    // Old set out and new set in, in one transaction: there is never a moment with both or neither.
    this.replaceTx = db.transaction((username: string, codes: Array<{ tag: string; hash: string }>, at: number) => {
      this.s.deleteCodes.run(username);
      for (const [i, c] of codes.entries()) this.s.insertCode.run(username, i + 1, c.tag, c.hash, at);
    });
  }

  getTotp(username: string): TotpRow | undefined {
    const r = this.s.getTotp.get(username);
    return r && toTotp(r);
  }
  setPendingTotp(username: string, secret: string, at: number): void {
    this.s.setPending.run(username, secret, at);
  }
  activateTotp(username: string, pendingSecret: string, at: number, step: number): boolean {
    return this.s.activate.run(at, step, username, pendingSecret).changes === 1;
  }
  useTotpStep(username: string, step: number): boolean {
    return this.s.useStep.run(step, username, step).changes === 1;
  }
  deleteTotp(username: string): boolean {
    return this.s.deleteTotp.run(username).changes === 1;
  }

  replaceEmergencyCodes(username: string, codes: Array<{ tag: string; hash: string }>, at: number): void {
    this.replaceTx(username, codes, at);
  }
  listEmergencyCodes(username: string): EmergencyCodeRow[] {
    return this.s.listCodes.all(username).map(toCode);
  }
  useEmergencyCode(username: string, id: number, at: number): boolean {
    return this.s.useCode.run(at, username, id).changes === 1;
  }

  setEnrolCode(r: Omit<EnrolCodeRow, 'usedAt'>): void {
    this.s.setEnrol.run(r.username, r.tag, r.hash, r.createdAt, r.expiresAt);
  }
  getEnrolCode(username: string): EnrolCodeRow | undefined {
    const r = this.s.getEnrol.get(username);
    return r && toEnrol(r);
  }
  useEnrolCode(username: string, tag: string, at: number): boolean {
    return this.s.useEnrol.run(at, username, tag, at).changes === 1;
  }

  createPortalSession(r: PortalSessionRow): void {
    this.s.createSession.run(r.id, r.username, r.stage, r.csrf, r.ip, r.createdAt, r.lastSeenAt);
  }
  getPortalSession(id: string): PortalSessionRow | undefined {
    const r = this.s.getSession.get(id);
    return r && toSession(r);
  }
  touchPortalSession(id: string, at: number): void {
    this.s.touchSession.run(at, id);
  }
  deletePortalSession(id: string): void {
    this.s.deleteSession.run(id);
  }
  deletePortalSessionsOf(username: string): number {
    return this.s.deleteSessionsOf.run(username).changes;
  }
  prunePortalSessions(idleBefore: number, createdBefore: number): number {
    return this.s.pruneSessions.run(idleBefore, createdBefore).changes;
  }
}
