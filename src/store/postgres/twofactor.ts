/**
 * The PostgreSQL side of two-factor state: TOTP secrets, emergency codes, enrolment codes and
 * portal sessions. Same statements as the sqlite backend's twofactor.ts, in PostgreSQL's dialect;
 * every compare-and-set stays one statement so races are decided by the database.
 */
import type { PoolClient, QueryResultRow } from 'pg';
import type { EmergencyCodeRow, EnrolCodeRow, PortalSessionRow, TotpRow } from '../types.js';

/** Runs one statement on the pool. */
export type Query = <R extends QueryResultRow = QueryResultRow>(sql: string, args?: unknown[]) => Promise<{ rows: R[]; rowCount: number }>;
/** Runs `fn` in one transaction on one pooled connection. */
export type Transaction = <T>(fn: (c: PoolClient) => Promise<T>) => Promise<T>;

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

/** The two-factor half of the PostgreSQL Store; PostgresStore delegates to it. */
export class PgTwoFactor {
  constructor(
    private readonly q: Query,
    private readonly tx: Transaction,
  ) {}

  async getTotp(username: string): Promise<TotpRow | undefined> {
    const r = (await this.q<TotpRecord>('SELECT * FROM totp WHERE username = $1', [username])).rows[0];
    return r && toTotp(r);
  }
  async setPendingTotp(username: string, secret: string, at: number): Promise<void> {
    await this.q(
      `INSERT INTO totp (username, pending_secret, pending_at) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO UPDATE SET pending_secret = excluded.pending_secret, pending_at = excluded.pending_at`,
      [username, secret, at],
    );
  }
  async activateTotp(username: string, pendingSecret: string, at: number, step: number): Promise<boolean> {
    const r = await this.q(
      `UPDATE totp SET secret = pending_secret, enabled_at = $1, last_step = $2, pending_secret = NULL, pending_at = NULL
       WHERE username = $3 AND pending_secret = $4`,
      [at, step, username, pendingSecret],
    );
    return r.rowCount === 1;
  }
  async useTotpStep(username: string, step: number): Promise<boolean> {
    // Comparison and write in one statement: two requests racing with one code cannot both pass.
    const r = await this.q(
      'UPDATE totp SET last_step = $1 WHERE username = $2 AND secret IS NOT NULL AND (last_step IS NULL OR last_step < $1)',
      [step, username],
    );
    return r.rowCount === 1;
  }
  async deleteTotp(username: string): Promise<boolean> {
    return (await this.q('DELETE FROM totp WHERE username = $1', [username])).rowCount === 1;
  }

  async replaceEmergencyCodes(username: string, codes: Array<{ tag: string; hash: string }>, at: number): Promise<void> {
    // Old set out and new set in, in one transaction: there is never a moment with both or neither.
    await this.tx(async (c) => {
      await c.query('DELETE FROM emergency_codes WHERE username = $1', [username]);
      if (codes.length === 0) return;
      await c.query(
        `INSERT INTO emergency_codes (username, id, tag, hash, created_at, used_at)
         SELECT $1, n, t, h, $2, NULL FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS x(t, h, n)`,
        [username, at, codes.map((x) => x.tag), codes.map((x) => x.hash)],
      );
    });
  }
  async listEmergencyCodes(username: string): Promise<EmergencyCodeRow[]> {
    return (await this.q<CodeRecord>('SELECT * FROM emergency_codes WHERE username = $1 ORDER BY id', [username])).rows.map(toCode);
  }
  async useEmergencyCode(username: string, id: number, at: number): Promise<boolean> {
    if (!Number.isSafeInteger(id) || id < 0 || id > 0x7fffffff) return false;
    const r = await this.q('UPDATE emergency_codes SET used_at = $1 WHERE username = $2 AND id = $3 AND used_at IS NULL', [
      at,
      username,
      id,
    ]);
    return r.rowCount === 1;
  }

  async setEnrolCode(r: Omit<EnrolCodeRow, 'usedAt'>): Promise<void> {
    await this.q(
      `INSERT INTO enrol_codes (username, tag, hash, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, NULL)
       ON CONFLICT (username) DO UPDATE SET tag = excluded.tag, hash = excluded.hash, created_at = excluded.created_at,
         expires_at = excluded.expires_at, used_at = NULL`,
      [r.username, r.tag, r.hash, r.createdAt, r.expiresAt],
    );
  }
  async getEnrolCode(username: string): Promise<EnrolCodeRow | undefined> {
    const r = (await this.q<EnrolRecord>('SELECT * FROM enrol_codes WHERE username = $1', [username])).rows[0];
    return r && toEnrol(r);
  }
  async useEnrolCode(username: string, tag: string, at: number): Promise<boolean> {
    const r = await this.q('UPDATE enrol_codes SET used_at = $1 WHERE username = $2 AND tag = $3 AND used_at IS NULL AND expires_at > $1', [
      at,
      username,
      tag,
    ]);
    return r.rowCount === 1;
  }

  async createPortalSession(r: PortalSessionRow): Promise<void> {
    await this.q(
      'INSERT INTO portal_sessions (id, username, stage, csrf, ip, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [r.id, r.username, r.stage, r.csrf, r.ip, r.createdAt, r.lastSeenAt],
    );
  }
  async getPortalSession(id: string): Promise<PortalSessionRow | undefined> {
    const r = (await this.q<SessionRecord>('SELECT * FROM portal_sessions WHERE id = $1', [id])).rows[0];
    return r && toSession(r);
  }
  async touchPortalSession(id: string, at: number): Promise<void> {
    await this.q('UPDATE portal_sessions SET last_seen_at = $1 WHERE id = $2', [at, id]);
  }
  async deletePortalSession(id: string): Promise<void> {
    await this.q('DELETE FROM portal_sessions WHERE id = $1', [id]);
  }
  async deletePortalSessionsOf(username: string): Promise<number> {
    return (await this.q('DELETE FROM portal_sessions WHERE username = $1', [username])).rowCount;
  }
  async prunePortalSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return (await this.q('DELETE FROM portal_sessions WHERE last_seen_at < $1 OR created_at < $2', [idleBefore, createdBefore])).rowCount;
  }
}
