/**
 * The sqlite Store backend (better-sqlite3). Queries are synchronous and take microseconds, so every
 * method does its work inline and returns an already-settled Promise; errors become rejections.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
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
import { LATEST_VERSION, migrate } from './migrations.js';
import { RolloutTables } from './rollout.js';
import { TwoFactorTables } from './twofactor.js';

const DEFAULT_AUDIT_LIMIT = 100;

interface AccountRecord {
  username: string;
  enforced: 0 | 1 | null;
  enforced_by: 'admin' | 'portal' | null;
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

/** Scopes are stored as comma-separated text ('imap,smtp'); validated on write so a comma can't sneak in. */
function encodeScopes(scopes: readonly Protocol[]): string {
  for (const s of scopes) if (!isProtocol(s)) throw new Error(`unknown passcode scope: ${String(s)}`);
  return scopes.join(',');
}

/** An unknown scope (written by a newer version) is dropped: a scope we don't know grants nothing. */
function decodeScopes(text: string): Protocol[] {
  return text === '' ? [] : text.split(',').filter(isProtocol);
}

function toAccount(r: AccountRecord): AccountRow {
  return {
    username: r.username,
    enforced: r.enforced === null ? null : r.enforced === 1,
    enforcedBy: r.enforced === null ? null : r.enforced_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toPasscode(r: PasscodeRecord): PasscodeRow {
  return {
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
  };
}

function toAudit(r: AuditRecord): AuditEvent {
  return {
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
  };
}

/** Turns sqlite constraint errors into messages that say which uniqueness rule was hit. */
function conflictError(err: unknown, row: PasscodeRow): unknown {
  const code = (err as { code?: unknown }).code;
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new Error(`passcode id already exists: ${row.id}`, { cause: err });
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
    return new Error(`passcode tag already exists for ${row.username}`, { cause: err });
  }
  return err;
}

/** Creates the file (and its directory) up front so it never exists with a umask-derived mode. */
function prepareFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // 'a' creates if missing and never truncates; the mode only applies on creation. An empty file
  // is a valid empty database. SQLite gives the -wal/-shm files the same mode as the db file.
  closeSync(openSync(path, 'a', 0o600));
}

function openDatabase(path: string, runMigrations: boolean): Db {
  const memory = path === ':memory:';
  if (!memory) prepareFile(path);
  const db = new Database(path);
  try {
    // First, so that even switching to WAL waits for (rather than fails on) another process's lock.
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    // In WAL mode a commit is an append to the WAL in the OS page cache; NORMAL skips the fsync per
    // commit. Committed data survives a process crash (SIGKILL, OOM); only a power loss / kernel
    // panic can lose the last few commits — never corrupt the file. Auth traffic writes a lot.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    if (runMigrations) migrate(db);
    else {
      const v = db.pragma('user_version', { simple: true }) as number;
      if (v !== LATEST_VERSION) {
        throw new Error(
          v > LATEST_VERSION
            ? `database schema version ${v} is newer than this mailgate understands (${LATEST_VERSION}); refusing to open it`
            : `the database schema is at version ${v}, this mailgate needs ${LATEST_VERSION}: run \`mailgate migrate\``,
        );
      }
    }
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Opens (creating and migrating if needed) a sqlite-backed Store at `path`, or ':memory:'.
 * `migrate: false` (serve --no-migrate) refuses a schema that is not current instead.
 */
export async function openSqliteStore(path: string, opts: { migrate?: boolean } = {}): Promise<Store> {
  return new SqliteStore(openDatabase(path, opts.migrate ?? true));
}

/** Every fixed statement, prepared once per connection. */
function prepareStatements(db: Db) {
  const p = <T>(sql: string) => db.prepare<unknown[], T>(sql);
  return {
    getAccount: p<AccountRecord>('SELECT * FROM accounts WHERE username = ?'),
    // Changes when another connection (the CLI, another instance) commits: the row cache's check.
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    listAccounts: p<AccountRecord>(
      `SELECT a.* FROM accounts a
       WHERE a.enforced IS NOT NULL OR EXISTS (SELECT 1 FROM passcodes p WHERE p.username = a.username)
       ORDER BY a.username`,
    ),
    // One statement, so "the portal never replaces an admin's override" holds under races too.
    setEnforcement: p(
      `INSERT INTO accounts (username, enforced, enforced_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (username) DO UPDATE SET enforced = excluded.enforced, enforced_by = excluded.enforced_by,
         updated_at = excluded.updated_at
       WHERE ? = 'admin' OR accounts.enforced_by IS NOT 'admin'`,
    ),
    ensureAccount: p(
      `INSERT INTO accounts (username, enforced, created_at, updated_at) VALUES (?, NULL, ?, ?)
       ON CONFLICT (username) DO NOTHING`,
    ),
    insertPasscode: p(
      `INSERT INTO passcodes (id, username, name, scopes, tag, hash, created_at, expires_at, revoked_at,
         last_used_at, last_used_ip, last_used_client, allowed_networks, unused_warned_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    findByTag: p<PasscodeRecord>('SELECT * FROM passcodes WHERE username = ? AND tag = ?'),
    getPasscode: p<PasscodeRecord>('SELECT * FROM passcodes WHERE id = ?'),
    // rowid breaks ties between passcodes created in the same millisecond: insertion order.
    listPasscodes: p<PasscodeRecord>('SELECT * FROM passcodes WHERE username = ? ORDER BY created_at, rowid'),
    revoke: p('UPDATE passcodes SET revoked_at = ? WHERE id = ? AND username = ? AND revoked_at IS NULL'),
    setScopes: p('UPDATE passcodes SET scopes = ? WHERE id = ? AND username = ? AND revoked_at IS NULL'),
    recordUse: p('UPDATE passcodes SET last_used_at = ?, last_used_ip = ?, last_used_client = ? WHERE id = ?'),
    // The 1st and 3rd values say whether name / allowed_networks change (allowed_networks may become NULL).
    update: p(
      `UPDATE passcodes SET name = CASE WHEN ? THEN ? ELSE name END,
         allowed_networks = CASE WHEN ? THEN ? ELSE allowed_networks END,
         expires_at = COALESCE(?, expires_at), unused_warned_at = COALESCE(?, unused_warned_at)
       WHERE id = ? AND username = ? AND revoked_at IS NULL`,
    ),
    unused: p<PasscodeRecord>(
      `SELECT * FROM passcodes WHERE revoked_at IS NULL AND COALESCE(last_used_at, created_at) < ?
         AND (expires_at IS NULL OR expires_at > ?) ORDER BY COALESCE(last_used_at, created_at), id LIMIT ?`,
    ),
    revokedSince: p<{ id: string; username: string; revokedAt: number }>(
      `SELECT id, username, revoked_at AS revokedAt FROM passcodes WHERE revoked_at >= ? ORDER BY revoked_at, id`,
    ),
    appendAudit: p(
      `INSERT INTO audit (ts, type, username, protocol, ip, passcode_id, outcome, reason, session_id, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

class SqliteStore implements Store {
  private closed = false;
  private readonly s: ReturnType<typeof prepareStatements>;
  /** queryAudit statements, one per filter shape and order (at most 32), prepared on first use. */
  private readonly auditQueries = new Map<string, Statement<unknown[], AuditRecord>>();
  /** The account row and the passcode go in together or not at all. */
  private readonly insertTx: (r: PasscodeRow) => void;
  private readonly tf: TwoFactorTables;
  private readonly ro: RolloutTables;
  private readonly pruneTx: (before: number) => number;
  private readonly batchTx: (b: WriteBatch) => number[];

  constructor(private readonly db: Db) {
    this.s = prepareStatements(db);
    this.tf = new TwoFactorTables(db);
    this.ro = new RolloutTables(db);
    // The gate row lets the append-only trigger pass deletes of older rows, in this transaction only.
    const gate = db.prepare('INSERT INTO audit_prune_gate (before) VALUES (?)');
    const prune = db.prepare('DELETE FROM audit WHERE ts < ?');
    const ungate = db.prepare('DELETE FROM audit_prune_gate');
    this.pruneTx = db.transaction((before: number) => {
      gate.run(before);
      const n = prune.run(before).changes;
      ungate.run();
      return n;
    });
    this.batchTx = db.transaction((b: WriteBatch) => {
      for (const u of b.passcodeUses) this.s.recordUse.run(u.at, u.ip, u.client, u.id);
      return b.audit.map((e) => this.insertAudit(e));
    });
    this.insertTx = db.transaction((r: PasscodeRow) => {
      this.s.ensureAccount.run(r.username, r.createdAt, r.createdAt);
      this.s.insertPasscode.run(
        r.id,
        r.username,
        r.name,
        encodeScopes(r.scopes),
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
      );
    });
  }

  async getAccount(username: string): Promise<AccountRow | undefined> {
    const r = this.s.getAccount.get(username);
    return r && toAccount(r);
  }

  async listAccounts(): Promise<AccountRow[]> {
    return this.s.listAccounts.all().map(toAccount);
  }

  async setEnforcement(username: string, enforced: boolean | null, at: number, by: OverrideOwner): Promise<boolean> {
    const value = enforced === null ? null : enforced ? 1 : 0;
    return this.s.setEnforcement.run(username, value, enforced === null ? null : by, at, at, by).changes === 1;
  }

  async insertPasscode(row: PasscodeRow): Promise<void> {
    try {
      this.insertTx(row);
    } catch (err) {
      throw conflictError(err, row);
    }
  }

  async findPasscodeByTag(username: string, tag: string): Promise<PasscodeRow | undefined> {
    const r = this.s.findByTag.get(username, tag);
    return r && toPasscode(r);
  }

  async getPasscode(id: string): Promise<PasscodeRow | undefined> {
    const r = this.s.getPasscode.get(id);
    return r && toPasscode(r);
  }

  async listPasscodes(username: string): Promise<PasscodeRow[]> {
    return this.s.listPasscodes.all(username).map(toPasscode);
  }

  async revokePasscode(username: string, id: string, at: number): Promise<boolean> {
    return this.s.revoke.run(at, id, username).changes === 1;
  }

  async setPasscodeScopes(username: string, id: string, scopes: readonly Protocol[]): Promise<boolean> {
    return this.s.setScopes.run(encodeScopes(scopes), id, username).changes === 1;
  }

  async recordPasscodeUse(id: string, at: number, ip: string | null, client: string | null): Promise<void> {
    this.s.recordUse.run(at, ip, client, id);
  }

  async updatePasscode(username: string, id: string, c: PasscodeChanges): Promise<boolean> {
    const nets = c.allowedNetworks !== undefined;
    const args = [c.name !== undefined ? 1 : 0, c.name ?? null, nets ? 1 : 0, encodeNetworks(c.allowedNetworks), c.expiresAt ?? null];
    return this.s.update.run(...args, c.unusedWarnedAt ?? null, id, username).changes === 1;
  }

  async unusedPasscodes(before: number, now: number, limit: number): Promise<PasscodeRow[]> {
    return this.s.unused.all(before, now, limit).map(toPasscode);
  }

  async revokedSince(since: number): Promise<Array<{ id: string; username: string; revokedAt: number }>> {
    return this.s.revokedSince.all(since);
  }

  // Rollout observations and notices (rollout.ts).
  async recordObservation(o: Parameters<Store['recordObservation']>[0]): Promise<void> {
    this.ro.record(o);
  }
  async listObservations(username?: string): Promise<ObservationRow[]> {
    return this.ro.list(username);
  }
  async markRolloutNotice(username: string, at: number): Promise<boolean> {
    return this.ro.mark(username, at);
  }

  // Two-factor state (twofactor.ts).
  async getTotp(u: string): Promise<TotpRow | undefined> {
    return this.tf.getTotp(u);
  }
  async setPendingTotp(u: string, secret: string, at: number): Promise<void> {
    this.tf.setPendingTotp(u, secret, at);
  }
  async activateTotp(u: string, pending: string, at: number, step: number): Promise<boolean> {
    return this.tf.activateTotp(u, pending, at, step);
  }
  async useTotpStep(u: string, step: number): Promise<boolean> {
    return this.tf.useTotpStep(u, step);
  }
  async deleteTotp(u: string): Promise<boolean> {
    return this.tf.deleteTotp(u);
  }
  async replaceEmergencyCodes(u: string, codes: Array<{ tag: string; hash: string }>, at: number): Promise<void> {
    this.tf.replaceEmergencyCodes(u, codes, at);
  }
  async listEmergencyCodes(u: string): Promise<EmergencyCodeRow[]> {
    return this.tf.listEmergencyCodes(u);
  }
  async useEmergencyCode(u: string, id: number, at: number): Promise<boolean> {
    return this.tf.useEmergencyCode(u, id, at);
  }
  async setEnrolCode(row: Omit<EnrolCodeRow, 'usedAt'>): Promise<void> {
    this.tf.setEnrolCode(row);
  }
  async getEnrolCode(u: string): Promise<EnrolCodeRow | undefined> {
    return this.tf.getEnrolCode(u);
  }
  async useEnrolCode(u: string, tag: string, at: number): Promise<boolean> {
    return this.tf.useEnrolCode(u, tag, at);
  }
  async createPortalSession(row: PortalSessionRow): Promise<void> {
    this.tf.createPortalSession(row);
  }
  async getPortalSession(id: string): Promise<PortalSessionRow | undefined> {
    return this.tf.getPortalSession(id);
  }
  async touchPortalSession(id: string, at: number): Promise<void> {
    this.tf.touchPortalSession(id, at);
  }
  async deletePortalSession(id: string): Promise<void> {
    this.tf.deletePortalSession(id);
  }
  async deletePortalSessionsOf(u: string): Promise<number> {
    return this.tf.deletePortalSessionsOf(u);
  }
  async prunePortalSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return this.tf.prunePortalSessions(idleBefore, createdBefore);
  }

  async appendAudit(e: AuditEvent): Promise<number> {
    return this.insertAudit(e);
  }

  private insertAudit(e: AuditEvent): number {
    const detail = e.detail === null || e.detail === undefined ? null : JSON.stringify(e.detail);
    const info = this.s.appendAudit.run(e.ts, e.type, e.username, e.protocol, e.ip, e.passcodeId, e.outcome, e.reason, e.sessionId, detail);
    return Number(info.lastInsertRowid);
  }

  async writeBatch(b: WriteBatch): Promise<number[]> {
    return this.batchTx(b);
  }

  async queryAudit(q: AuditQuery): Promise<AuditEvent[]> {
    const limit = q.limit === undefined || !Number.isFinite(q.limit) ? DEFAULT_AUDIT_LIMIT : Math.max(0, Math.floor(q.limit));
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.username !== undefined) {
      where.push('username = ?');
      args.push(q.username);
    }
    if (q.type !== undefined) {
      where.push('type = ?');
      args.push(q.type);
    }
    if (q.afterId !== undefined) {
      where.push('id > ?');
      args.push(q.afterId);
    }
    if (q.since !== undefined) {
      where.push('ts >= ?');
      args.push(q.since);
    }
    // The SQL text depends only on which filters are present, never on their values.
    const filter = where.join(' AND ');
    const order = q.oldestFirst ? 'ASC' : 'DESC';
    const key = `${filter}|${order}`;
    let stmt = this.auditQueries.get(key);
    if (!stmt) {
      const sql = `SELECT * FROM audit ${filter ? `WHERE ${filter}` : ''} ORDER BY id ${order} LIMIT ?`;
      stmt = this.db.prepare<unknown[], AuditRecord>(sql);
      this.auditQueries.set(key, stmt);
    }
    // Newest N come newest first from the index and are flipped: callers always read oldest first.
    const rows = stmt.all(...args, limit);
    return (q.oldestFirst ? rows : rows.reverse()).map(toAudit);
  }

  async pruneAudit(before: number): Promise<number> {
    return this.pruneTx(before);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  changeVersion(): number {
    return this.s.dataVersion.get() as number;
  }
}
