/**
 * Schema migrations for the sqlite store. Append-only: never edit a released migration, add a new one.
 * The applied version lives in `PRAGMA user_version` (part of the db header, so it commits atomically
 * with the DDL in the same transaction).
 */
import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  name: string;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    up: `
      CREATE TABLE accounts (
        username   TEXT PRIMARY KEY NOT NULL,
        enforced   INTEGER NULL CHECK (enforced IN (0, 1)),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE passcodes (
        id               TEXT PRIMARY KEY NOT NULL,
        username         TEXT NOT NULL REFERENCES accounts(username) ON DELETE CASCADE,
        name             TEXT NOT NULL,
        scopes           TEXT NOT NULL,
        tag              TEXT NOT NULL,
        hash             TEXT NOT NULL,
        created_at       INTEGER NOT NULL,
        expires_at       INTEGER NULL,
        revoked_at       INTEGER NULL,
        last_used_at     INTEGER NULL,
        last_used_ip     TEXT NULL,
        last_used_client TEXT NULL,
        UNIQUE (username, tag)
      );
      CREATE INDEX passcodes_revoked_at ON passcodes(revoked_at);

      -- passcode_id is deliberately not a foreign key: the audit trail outlives the passcode.
      CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        ts          INTEGER NOT NULL,
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
      CREATE INDEX audit_username_id ON audit(username, id);
      CREATE INDEX audit_ts ON audit(ts);

      -- The audit log is append-only, enforced by the database itself so that no code path
      -- (or a careless ad-hoc query through this schema) can rewrite history.
      CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
  {
    version: 2,
    name: 'two-factor: TOTP secrets, emergency codes, portal sessions',
    up: `
      -- One row per account that has (or is enrolling) an authenticator app. Secrets are
      -- AES-256-GCM ciphertexts (core/totp.ts); last_step is the replay guard.
      CREATE TABLE totp (
        username       TEXT PRIMARY KEY NOT NULL,
        secret         TEXT NULL,
        enabled_at     INTEGER NULL,
        last_step      INTEGER NULL,
        pending_secret TEXT NULL,
        pending_at     INTEGER NULL
      );

      CREATE TABLE emergency_codes (
        username   TEXT NOT NULL,
        id         INTEGER NOT NULL,
        tag        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        used_at    INTEGER NULL,
        PRIMARY KEY (username, id)
      );

      -- id is a hash of the cookie value: a copy of the database does not hand out live sessions.
      CREATE TABLE portal_sessions (
        id           TEXT PRIMARY KEY NOT NULL,
        username     TEXT NOT NULL,
        stage        TEXT NOT NULL CHECK (stage IN ('password', 'complete')),
        csrf         TEXT NOT NULL,
        ip           TEXT NULL,
        created_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL
      );
      CREATE INDEX portal_sessions_username ON portal_sessions(username);
      CREATE INDEX portal_sessions_last_seen ON portal_sessions(last_seen_at);
    `,
  },
  {
    version: 3,
    name: 'enforcement override owner; enrolment codes',
    up: `
      -- Who owns an override: only an admin can undo an admin's (the portal never does). Before
      -- this column the owner was only in the audit log: the newest account.enforce event says.
      ALTER TABLE accounts ADD COLUMN enforced_by TEXT NULL CHECK (enforced_by IN ('admin', 'portal'));
      UPDATE accounts SET enforced_by = CASE
        WHEN enforced = 1 AND (
          SELECT json_extract(a.detail, '$.actor') FROM audit a
          WHERE a.username = accounts.username AND a.type = 'account.enforce' ORDER BY a.id DESC LIMIT 1
        ) = 'portal' THEN 'portal'
        ELSE 'admin' END
      WHERE enforced IS NOT NULL;

      -- One admin-issued, single-use code per account for the first TOTP enrolment
      -- (portal.first_enrolment: code); bcrypt hash plus keyed lookup tag, never the code.
      CREATE TABLE enrol_codes (
        username   TEXT PRIMARY KEY NOT NULL,
        tag        TEXT NOT NULL,
        hash       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at    INTEGER NULL
      );
    `,
  },
  {
    version: 4,
    name: 'audit retention pruning; index for audit queries by type',
    up: `
      -- The admin API and CLI filter the audit log by type, newest first; the unblock watch polls by type.
      CREATE INDEX audit_type_id ON audit(type, id);

      -- Retention (audit.retention) must delete old events; nothing else may. A row may be deleted
      -- only while the deleting transaction holds a gate row whose cutoff is later than the row's
      -- time: pruneAudit inserts it and removes it again before its commit, so no other connection
      -- ever sees one, and an ad-hoc DELETE stays refused. (No pragma or connection flag: the rule
      -- lives in the schema, like the append-only triggers of migration 1.)
      CREATE TABLE audit_prune_gate (before INTEGER NOT NULL);
      DROP TRIGGER audit_no_delete;
      CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        WHEN NOT EXISTS (SELECT 1 FROM audit_prune_gate g WHERE OLD.ts < g.before)
        BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `,
  },
  {
    version: 5,
    name: 'rollout: would-break observations, notices sent',
    up: `
      -- Main-password logins of accounts in observe mode (core/observe.ts). client is '' when the
      -- client gave no name: NULLs would never conflict, and every POP3 login would add a row.
      CREATE TABLE rollout_observations (
        username   TEXT NOT NULL,
        protocol   TEXT NOT NULL,
        client     TEXT NOT NULL DEFAULT '',
        ip         TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        count      INTEGER NOT NULL,
        PRIMARY KEY (username, protocol, client, ip)
      );
      -- The one rollout notice per account: a row here means it was sent (or is being sent).
      CREATE TABLE rollout_notices (
        username TEXT PRIMARY KEY NOT NULL,
        sent_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 6,
    name: 'per-passcode limits: allowed networks, expiry for want of use',
    up: `
      -- CIDR list, comma-separated; NULL: anywhere.
      ALTER TABLE passcodes ADD COLUMN allowed_networks TEXT NULL;
      -- When the owner was last warned that the passcode expires unused (passcodes.expire_unused).
      ALTER TABLE passcodes ADD COLUMN unused_warned_at INTEGER NULL;
      -- The sweep for passcodes unused since a date reads only live ones, least recently used first.
      CREATE INDEX passcodes_unused ON passcodes(COALESCE(last_used_at, created_at)) WHERE revoked_at IS NULL;
    `,
  },
];

/** The schema version this code writes and understands. */
export const LATEST_VERSION: number = MIGRATIONS.reduce((v, m) => Math.max(v, m.version), 0);

/** Applies all pending migrations, each in its own transaction; returns the resulting version. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.reduce((v, m) => Math.max(v, m.version), 0);
  const readVersion = (): number => db.pragma('user_version', { simple: true }) as number;
  const current = readVersion();
  if (current > latest) {
    throw new Error(
      `database schema version ${current} is newer than this mailgate understands (${latest}); ` +
        'upgrade mailgate or restore a backup — refusing to open it',
    );
  }
  const pending = [...migrations].filter((m) => m.version > current).sort((a, b) => a.version - b.version);
  for (const m of pending) {
    // IMMEDIATE takes the write lock up front, so two processes opening the same fresh file do not
    // both run migration 1; the loser re-reads the version inside the lock and skips.
    db.transaction(() => {
      if (readVersion() >= m.version) return;
      db.exec(m.up);
      db.pragma(`user_version = ${Math.trunc(m.version)}`);
    }).immediate();
  }
  return readVersion();
}
