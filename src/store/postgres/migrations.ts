/**
 * Schema migrations for the PostgreSQL store. Append-only: never edit a released migration, add a
 * new one. Applied versions are rows of `mailgate_schema`; every migration runs in its own
 * transaction under a transaction-scoped advisory lock, so two instances starting (or `mailgate
 * migrate` run twice) at once apply each migration exactly once — the loser waits, re-reads the
 * version and skips.
 */
import type { Pool, PoolClient } from 'pg';

export interface PgMigration {
  version: number;
  name: string;
  up: string;
}

/** Arbitrary constant: the advisory lock key all mailgate migrators agree on. */
const MIGRATION_LOCK = 0x6d61696c; // 'mail'

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'initial schema (the sqlite schema of version 4)',
    up: `
      CREATE TABLE accounts (
        username    TEXT PRIMARY KEY,
        enforced    BOOLEAN NULL,
        enforced_by TEXT NULL CHECK (enforced_by IN ('admin', 'portal')),
        created_at  BIGINT NOT NULL,
        updated_at  BIGINT NOT NULL
      );

      CREATE TABLE passcodes (
        id               TEXT PRIMARY KEY,
        -- Insertion order breaks ties between passcodes created in the same millisecond (sqlite: rowid).
        seq              BIGSERIAL NOT NULL,
        username         TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        name             TEXT NOT NULL,
        scopes           TEXT NOT NULL,
        tag              TEXT NOT NULL,
        hash             TEXT NOT NULL,
        created_at       BIGINT NOT NULL,
        expires_at       BIGINT NULL,
        revoked_at       BIGINT NULL,
        last_used_at     BIGINT NULL,
        last_used_ip     TEXT NULL,
        last_used_client TEXT NULL,
        UNIQUE (username, tag)
      );
      CREATE INDEX passcodes_revoked_at ON passcodes(revoked_at);

      -- passcode_id is deliberately not a foreign key: the audit trail outlives the passcode.
      CREATE TABLE audit (
        id          BIGSERIAL PRIMARY KEY,
        ts          BIGINT NOT NULL,
        type        TEXT NOT NULL,
        username    TEXT NULL,
        protocol    TEXT NULL,
        ip          TEXT NULL,
        passcode_id TEXT NULL,
        outcome     TEXT NOT NULL,
        reason      TEXT NULL,
        session_id  TEXT NULL,
        detail      TEXT NULL
      );
      -- The admin API and CLI filter by user and/or type, newest first; the unblock watch polls by type.
      CREATE INDEX audit_username_id ON audit(username, id);
      CREATE INDEX audit_type_id ON audit(type, id);
      CREATE INDEX audit_ts ON audit(ts);

      -- Append-only, enforced by the database itself. The one exception is retention pruning: a
      -- row may be deleted only while the deleting transaction holds a gate row in
      -- audit_prune_gate whose cutoff is later than the row's time (store pruneAudit inserts it
      -- and removes it again before commit, so no other session ever sees it).
      CREATE TABLE audit_prune_gate (before BIGINT NOT NULL);
      CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_prune_gate g WHERE OLD.ts < g.before) THEN
          RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit log is append-only';
      END $$;
      CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
        FOR EACH ROW EXECUTE FUNCTION audit_append_only();
      CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

      CREATE TABLE totp (
        username       TEXT PRIMARY KEY,
        secret         TEXT NULL,
        enabled_at     BIGINT NULL,
        last_step      BIGINT NULL,
        pending_secret TEXT NULL,
        pending_at     BIGINT NULL
      );

      CREATE TABLE emergency_codes (
        username   TEXT NOT NULL,
        id         INTEGER NOT NULL,
        tag        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        used_at    BIGINT NULL,
        PRIMARY KEY (username, id)
      );

      CREATE TABLE portal_sessions (
        id           TEXT PRIMARY KEY,
        username     TEXT NOT NULL,
        stage        TEXT NOT NULL CHECK (stage IN ('password', 'complete')),
        csrf         TEXT NOT NULL,
        ip           TEXT NULL,
        created_at   BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL
      );
      CREATE INDEX portal_sessions_username ON portal_sessions(username);
      CREATE INDEX portal_sessions_last_seen ON portal_sessions(last_seen_at);

      CREATE TABLE enrol_codes (
        username   TEXT PRIMARY KEY,
        tag        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at    BIGINT NULL
      );
    `,
  },
  {
    // Numbered as sqlite's: 2-4 there changed what version 1 here already has.
    version: 5,
    name: 'rollout: would-break observations, notices sent',
    up: `
      CREATE TABLE rollout_observations (
        username   TEXT NOT NULL,
        protocol   TEXT NOT NULL,
        client     TEXT NOT NULL DEFAULT '',
        ip         TEXT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL,
        count      BIGINT NOT NULL,
        PRIMARY KEY (username, protocol, client, ip)
      );
      CREATE TABLE rollout_notices (
        username TEXT PRIMARY KEY,
        sent_at  BIGINT NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'per-passcode limits: allowed networks, expiry for want of use (sqlite version 6)',
    up: `
      ALTER TABLE passcodes ADD COLUMN allowed_networks TEXT NULL;
      ALTER TABLE passcodes ADD COLUMN unused_warned_at BIGINT NULL;
      CREATE INDEX passcodes_unused ON passcodes((COALESCE(last_used_at, created_at))) WHERE revoked_at IS NULL;
    `,
  },
];

/** The schema version this code writes and understands. */
export const PG_LATEST_VERSION: number = PG_MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

async function currentVersion(c: PoolClient): Promise<number> {
  const exists = await c.query<{ t: string | null }>(`SELECT to_regclass('mailgate_schema')::text AS t`);
  if (exists.rows[0]?.t === null || exists.rows[0]?.t === undefined) return 0;
  const r = await c.query<{ v: number | null }>('SELECT max(version)::int AS v FROM mailgate_schema');
  return r.rows[0]?.v ?? 0;
}

/** The applied schema version (0: empty database). */
export async function pgSchemaVersion(pool: Pool): Promise<number> {
  const c = await pool.connect();
  try {
    return await currentVersion(c);
  } finally {
    c.release();
  }
}

/** Refuses a database written by a newer mailgate (its schema may mean things we do not know). */
export function assertNotNewer(current: number, latest: number): void {
  if (current > latest) {
    throw new Error(
      `database schema version ${current} is newer than this mailgate understands (${latest}); ` +
        'upgrade mailgate or restore a backup — refusing to open it',
    );
  }
}

/** Applies all pending migrations, each in its own transaction; returns the resulting version. */
export async function migratePostgres(pool: Pool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number> {
  const latest = migrations.reduce((v, m) => Math.max(v, m.version), 0);
  const c = await pool.connect();
  try {
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      await c.query('BEGIN');
      try {
        await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        await c.query(`CREATE TABLE IF NOT EXISTS mailgate_schema (
          version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
        const current = await currentVersion(c);
        assertNotNewer(current, latest);
        if (current < m.version) {
          await c.query(m.up);
          await c.query('INSERT INTO mailgate_schema (version, name) VALUES ($1, $2)', [m.version, m.name]);
        }
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    }
    return await currentVersion(c);
  } finally {
    c.release();
  }
}
