/**
 * The PostgreSQL Store backend (node-postgres). One pool per process; every statement has a
 * server-side timeout so a stuck database turns into a refused login, not a hung one. The
 * statements mirror the sqlite backend's; where sqlite uses a transaction, so does this one.
 */
import pg from 'pg';
import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { decodeNetworks, encodeNetworks, PROTOCOLS } from '../types.js';
import type {
  AccountRow,
  AuditEvent,
  AuditQuery,
  EmergencyCodeRow,
  EnrolCodeRow,
  ObservationRow,
  OverrideOwner,
  PasscodeChanges,
  PasscodeRow,
  PortalSessionRow,
  Protocol,
  Store,
  TotpRow,
  WriteBatch,
} from '../types.js';
import { PG_LATEST_VERSION, assertNotNewer, migratePostgres, pgSchemaVersion } from './migrations.js';
import { PgRollout } from './rollout.js';
import { PgTwoFactor, type Query, type Transaction } from './twofactor.js';

const DEFAULT_AUDIT_LIMIT = 100;

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Server-side statement_timeout and the wait for a pooled connection (default 5000 ms). */
  statementTimeoutMs?: number;
  /** Apply pending migrations (default); false: refuse to open a schema that is not current. */
  migrate?: boolean;
  /** An idle pooled connection failed (database restarted…); the pool replaces it. */
  onError?: (err: Error) => void;
}

interface AccountRecord {
  username: string;
  enforced: boolean | null;
  enforced_by: OverrideOwner | null;
  created_at: number;
  updated_at: number;
}
interface PasscodeRecord {
  id: string;
  username: string;
  name: string;
  scopes: string;
  tag: string;
  hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  last_used_ip: string | null;
  last_used_client: string | null;
  allowed_networks: string | null;
  unused_warned_at: number | null;
}
interface AuditRecord {
  id: number;
  ts: number;
  type: string;
  username: string | null;
  protocol: string | null;
  ip: string | null;
  passcode_id: string | null;
  outcome: string;
  reason: string | null;
  session_id: string | null;
  detail: string | null;
}

const isProtocol = (s: string): s is Protocol => (PROTOCOLS as readonly string[]).includes(s);
/** Same text encoding as sqlite ('imap,smtp'), so `store copy` moves rows as they are. */
function encodeScopes(scopes: readonly Protocol[]): string {
  for (const s of scopes) if (!isProtocol(s)) throw new Error(`unknown passcode scope: ${String(s)}`);
  return scopes.join(',');
}
const decodeScopes = (t: string): Protocol[] => (t === '' ? [] : t.split(',').filter(isProtocol));

const toAccount = (r: AccountRecord): AccountRow => ({
  username: r.username,
  enforced: r.enforced,
  enforcedBy: r.enforced === null ? null : r.enforced_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});
const toPasscode = (r: PasscodeRecord): PasscodeRow => ({
  id: r.id,
  username: r.username,
  name: r.name,
  scopes: decodeScopes(r.scopes),
  tag: r.tag,
  hash: r.hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
  lastUsedIp: r.last_used_ip,
  lastUsedClient: r.last_used_client,
  allowedNetworks: decodeNetworks(r.allowed_networks),
  unusedWarnedAt: r.unused_warned_at,
});
const toAudit = (r: AuditRecord): AuditEvent => ({
  id: r.id,
  ts: r.ts,
  type: r.type,
  username: r.username,
  protocol: r.protocol,
  ip: r.ip,
  passcodeId: r.passcode_id,
  outcome: r.outcome,
  reason: r.reason,
  sessionId: r.session_id,
  detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
});

/** BIGINT columns (times in ms, audit ids) come back as numbers: all of them are far below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** A pool configured as every mailgate process uses it (also used by `store copy` and `migrate`). */
export function createPool(o: PostgresStoreOptions): Pool {
  const timeout = o.statementTimeoutMs ?? 5000;
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.poolSize ?? 10,
    types,
    statement_timeout: timeout,
    idle_in_transaction_session_timeout: Math.max(timeout * 2, 10_000),
    connectionTimeoutMillis: timeout,
    application_name: 'mailgate',
  });
  // Without a listener an idle connection's error (server restart) would crash the process.
  pool.on('error', (e) => o.onError?.(e));
  return pool;
}

/** Opens a PostgreSQL-backed Store, migrating it first unless `migrate: false`. */
export async function openPostgresStore(o: PostgresStoreOptions): Promise<Store> {
  const pool = createPool(o);
  try {
    if (o.migrate ?? true) await migratePostgres(pool);
    else {
      const v = await pgSchemaVersion(pool);
      assertNotNewer(v, PG_LATEST_VERSION);
      if (v < PG_LATEST_VERSION)
        throw new Error(`the database schema is at version ${v}, this mailgate needs ${PG_LATEST_VERSION}: run \`mailgate migrate\``);
    }
  } catch (e) {
    await pool.end();
    throw e;
  }
  return new PostgresStore(pool);
}

/** Turns unique violations into messages that say which rule was hit. */
function conflictError(err: unknown, row: PasscodeRow): unknown {
  const e = err as { code?: string; constraint?: string };
  if (e.code !== '23505') return err;
  if (e.constraint === 'passcodes_pkey') return new Error(`passcode id already exists: ${row.id}`, { cause: err });
  return new Error(`passcode tag already exists for ${row.username}`, { cause: err });
}

/** Key of the advisory lock that orders audit inserts (any constant no other code uses: "mgau"). */
export const AUDIT_ORDER_LOCK = 0x6d676175;

/** A Query running on one client (inside a transaction). */
function clientQuery(c: PoolClient): Query {
  return (async <R extends QueryResultRow>(sql: string, args: unknown[] = []) => {
    const r = await c.query<R>(sql, args);
    return { rows: r.rows, rowCount: r.rowCount ?? 0 };
  }) as Query;
}

class PostgresStore implements Store {
  private readonly q: Query;
  private readonly tx: Transaction;
  private readonly tf: PgTwoFactor;
  private readonly ro: PgRollout;

  constructor(private readonly pool: Pool) {
    this.q = async <R extends QueryResultRow>(sql: string, args: unknown[] = []) => {
      const r = await pool.query<R>(sql, args);
      return { rows: r.rows, rowCount: r.rowCount ?? 0 };
    };
    this.tx = async <T>(fn: (c: PoolClient) => Promise<T>): Promise<T> => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const out = await fn(c);
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        c.release();
      }
    };
    this.tf = new PgTwoFactor(this.q, this.tx);
    this.ro = new PgRollout(this.q);
  }

  async getAccount(username: string): Promise<AccountRow | undefined> {
    const r = (await this.q<AccountRecord>('SELECT * FROM accounts WHERE username = $1', [username])).rows[0];
    return r && toAccount(r);
  }

  async listAccounts(): Promise<AccountRow[]> {
    // COLLATE "C": byte order, as sqlite sorts, whatever the database's locale.
    const r = await this.q<AccountRecord>(
      `SELECT a.* FROM accounts a
       WHERE a.enforced IS NOT NULL OR EXISTS (SELECT 1 FROM passcodes p WHERE p.username = a.username)
       ORDER BY a.username COLLATE "C"`,
    );
    return r.rows.map(toAccount);
  }

  async setEnforcement(username: string, enforced: boolean | null, at: number, by: OverrideOwner): Promise<boolean> {
    // One statement, so "the portal never replaces an admin's override" holds under races too.
    const r = await this.q(
      `INSERT INTO accounts (username, enforced, enforced_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (username) DO UPDATE SET enforced = excluded.enforced, enforced_by = excluded.enforced_by,
         updated_at = excluded.updated_at
       WHERE $5 = 'admin' OR accounts.enforced_by IS DISTINCT FROM 'admin'`,
      [username, enforced, enforced === null ? null : by, at, by],
    );
    return r.rowCount === 1;
  }

  async insertPasscode(r: PasscodeRow): Promise<void> {
    const scopes = encodeScopes(r.scopes);
    try {
      // The account row and the passcode go in together or not at all.
      await this.tx(async (c) => {
        await c.query(
          `INSERT INTO accounts (username, enforced, created_at, updated_at) VALUES ($1, NULL, $2, $2) ON CONFLICT (username) DO NOTHING`,
          [r.username, r.createdAt],
        );
        await c.query(
          `INSERT INTO passcodes (id, username, name, scopes, tag, hash, created_at, expires_at, revoked_at,
             last_used_at, last_used_ip, last_used_client, allowed_networks, unused_warned_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
          [
            r.id,
            r.username,
            r.name,
            scopes,
            r.tag,
            r.hash,
            r.createdAt,
            r.expiresAt,
            r.revokedAt,
            r.lastUsedAt,
            r.lastUsedIp,
            r.lastUsedClient,
            encodeNetworks(r.allowedNetworks),
            r.unusedWarnedAt ?? null,
          ],
        );
      });
    } catch (err) {
      throw conflictError(err, r);
    }
  }

  async findPasscodeByTag(username: string, tag: string): Promise<PasscodeRow | undefined> {
    const r = (await this.q<PasscodeRecord>('SELECT * FROM passcodes WHERE username = $1 AND tag = $2', [username, tag])).rows[0];
    return r && toPasscode(r);
  }

  async getPasscode(id: string): Promise<PasscodeRow | undefined> {
    const r = (await this.q<PasscodeRecord>('SELECT * FROM passcodes WHERE id = $1', [id])).rows[0];
    return r && toPasscode(r);
  }

  async listPasscodes(username: string): Promise<PasscodeRow[]> {
    return (await this.q<PasscodeRecord>('SELECT * FROM passcodes WHERE username = $1 ORDER BY created_at, seq', [username])).rows.map(
      toPasscode,
    );
  }

  async revokePasscode(username: string, id: string, at: number): Promise<boolean> {
    const r = await this.q('UPDATE passcodes SET revoked_at = $1 WHERE id = $2 AND username = $3 AND revoked_at IS NULL', [
      at,
      id,
      username,
    ]);
    return r.rowCount === 1;
  }

  async setPasscodeScopes(username: string, id: string, scopes: readonly Protocol[]): Promise<boolean> {
    const r = await this.q('UPDATE passcodes SET scopes = $1 WHERE id = $2 AND username = $3 AND revoked_at IS NULL', [
      encodeScopes(scopes),
      id,
      username,
    ]);
    return r.rowCount === 1;
  }

  async recordPasscodeUse(id: string, at: number, ip: string | null, client: string | null): Promise<void> {
    await this.q('UPDATE passcodes SET last_used_at = $1, last_used_ip = $2, last_used_client = $3 WHERE id = $4', [at, ip, client, id]);
  }

  async updatePasscode(username: string, id: string, c: PasscodeChanges): Promise<boolean> {
    const r = await this.q(
      `UPDATE passcodes SET name = CASE WHEN $1 THEN $2 ELSE name END,
         allowed_networks = CASE WHEN $3 THEN $4 ELSE allowed_networks END,
         expires_at = COALESCE($5, expires_at), unused_warned_at = COALESCE($6, unused_warned_at)
       WHERE id = $7 AND username = $8 AND revoked_at IS NULL`,
      [
        c.name !== undefined,
        c.name ?? null,
        c.allowedNetworks !== undefined,
        encodeNetworks(c.allowedNetworks),
        c.expiresAt ?? null,
        c.unusedWarnedAt ?? null,
        id,
        username,
      ],
    );
    return r.rowCount === 1;
  }

  async unusedPasscodes(before: number, now: number, limit: number): Promise<PasscodeRow[]> {
    const sql = `SELECT * FROM passcodes WHERE revoked_at IS NULL AND COALESCE(last_used_at, created_at) < $1
      AND (expires_at IS NULL OR expires_at > $2) ORDER BY COALESCE(last_used_at, created_at), id COLLATE "C" LIMIT $3`;
    return (await this.q<PasscodeRecord>(sql, [before, now, limit])).rows.map(toPasscode);
  }

  async revokedSince(since: number): Promise<Array<{ id: string; username: string; revokedAt: number }>> {
    const r = await this.q<{ id: string; username: string; revokedAt: number }>(
      `SELECT id, username, revoked_at AS "revokedAt" FROM passcodes WHERE revoked_at >= $1 ORDER BY revoked_at, id COLLATE "C"`,
      [since],
    );
    return r.rows;
  }

  // Rollout observations and notices (rollout.ts).
  recordObservation(o: Parameters<Store['recordObservation']>[0]): Promise<void> {
    return this.ro.record(o);
  }
  listObservations(username?: string): Promise<ObservationRow[]> {
    return this.ro.list(username);
  }
  markRolloutNotice(username: string, at: number): Promise<boolean> {
    return this.ro.mark(username, at);
  }

  // Two-factor state (twofactor.ts).
  getTotp(u: string): Promise<TotpRow | undefined> {
    return this.tf.getTotp(u);
  }
  setPendingTotp(u: string, secret: string, at: number): Promise<void> {
    return this.tf.setPendingTotp(u, secret, at);
  }
  activateTotp(u: string, pending: string, at: number, step: number): Promise<boolean> {
    return this.tf.activateTotp(u, pending, at, step);
  }
  useTotpStep(u: string, step: number): Promise<boolean> {
    return this.tf.useTotpStep(u, step);
  }
  deleteTotp(u: string): Promise<boolean> {
    return this.tf.deleteTotp(u);
  }
  replaceEmergencyCodes(u: string, codes: Array<{ tag: string; hash: string }>, at: number): Promise<void> {
    return this.tf.replaceEmergencyCodes(u, codes, at);
  }
  listEmergencyCodes(u: string): Promise<EmergencyCodeRow[]> {
    return this.tf.listEmergencyCodes(u);
  }
  useEmergencyCode(u: string, id: number, at: number): Promise<boolean> {
    return this.tf.useEmergencyCode(u, id, at);
  }
  setEnrolCode(row: Omit<EnrolCodeRow, 'usedAt'>): Promise<void> {
    return this.tf.setEnrolCode(row);
  }
  getEnrolCode(u: string): Promise<EnrolCodeRow | undefined> {
    return this.tf.getEnrolCode(u);
  }
  useEnrolCode(u: string, tag: string, at: number): Promise<boolean> {
    return this.tf.useEnrolCode(u, tag, at);
  }
  createPortalSession(row: PortalSessionRow): Promise<void> {
    return this.tf.createPortalSession(row);
  }
  getPortalSession(id: string): Promise<PortalSessionRow | undefined> {
    return this.tf.getPortalSession(id);
  }
  touchPortalSession(id: string, at: number): Promise<void> {
    return this.tf.touchPortalSession(id, at);
  }
  deletePortalSession(id: string): Promise<void> {
    return this.tf.deletePortalSession(id);
  }
  deletePortalSessionsOf(u: string): Promise<number> {
    return this.tf.deletePortalSessionsOf(u);
  }
  prunePortalSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.tf.prunePortalSessions(idleBefore, createdBefore);
  }

  async appendAudit(e: AuditEvent): Promise<number> {
    return this.tx(async (c) => (await this.insertAudit([e], clientQuery(c)))[0]!);
  }

  /** One multi-row INSERT; ids in the order of `events` (RETURNING follows the VALUES order of a plain insert). */
  private async insertAudit(events: AuditEvent[], q: Query): Promise<number[]> {
    if (events.length === 0) return [];
    // Audit ids are handed out and committed in one order across every instance: a follower reads
    // "id > last seen" (live policy, unblocks, notices, audit --follow), and a sequence alone lets a
    // later id commit first, so the follower would step over the earlier one for good. The lock is
    // held to this transaction's commit, right after the insert (login events come batched, so
    // this is one short wait per tick per instance).
    await q('SELECT pg_advisory_xact_lock($1)', [AUDIT_ORDER_LOCK]);
    const args: unknown[] = [];
    const rows = events.map((e) => {
      const detail = e.detail === null || e.detail === undefined ? null : JSON.stringify(e.detail);
      const n = args.push(e.ts, e.type, e.username, e.protocol, e.ip, e.passcodeId, e.outcome, e.reason, e.sessionId, detail);
      return `(${Array.from({ length: 10 }, (_, i) => `$${n - 9 + i}`).join(', ')})`;
    });
    const r = await q<{ id: number }>(
      `INSERT INTO audit (ts, type, username, protocol, ip, passcode_id, outcome, reason, session_id, detail)
       VALUES ${rows.join(', ')} RETURNING id`,
      args,
    );
    // Ids come from one sequence in insertion order; sorting makes the order explicit.
    return r.rows.map((x) => Number(x.id)).sort((a, b) => a - b);
  }

  async writeBatch(b: WriteBatch): Promise<number[]> {
    return this.tx(async (c) => {
      const q = clientQuery(c);
      for (const u of b.passcodeUses)
        await q('UPDATE passcodes SET last_used_at = $1, last_used_ip = $2, last_used_client = $3 WHERE id = $4', [
          u.at,
          u.ip,
          u.client,
          u.id,
        ]);
      return this.insertAudit(b.audit, q);
    });
  }

  async queryAudit(q: AuditQuery): Promise<AuditEvent[]> {
    const limit = q.limit === undefined || !Number.isFinite(q.limit) ? DEFAULT_AUDIT_LIMIT : Math.max(0, Math.floor(q.limit));
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (q.username !== undefined) add('username = ?', q.username);
    if (q.type !== undefined) add('type = ?', q.type);
    if (q.afterId !== undefined) add('id > ?', q.afterId);
    if (q.since !== undefined) add('ts >= ?', q.since);
    args.push(limit);
    const order = q.oldestFirst ? 'ASC' : 'DESC';
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${order} LIMIT $${args.length}`;
    // Newest N come newest first from the index and are flipped: callers always read oldest first.
    const rows = (await this.q<AuditRecord>(sql, args)).rows;
    return (q.oldestFirst ? rows : rows.reverse()).map(toAudit);
  }

  async pruneAudit(before: number): Promise<number> {
    // The gate row lets the append-only trigger pass deletes of older rows, in this transaction only.
    return this.tx(async (c) => {
      await c.query('INSERT INTO audit_prune_gate (before) VALUES ($1)', [before]);
      const r = await c.query('DELETE FROM audit WHERE ts < $1', [before]);
      await c.query('DELETE FROM audit_prune_gate');
      return r.rowCount ?? 0;
    });
  }

  async close(): Promise<void> {
    if (!this.pool.ended && !this.pool.ending) await this.pool.end();
  }
}
