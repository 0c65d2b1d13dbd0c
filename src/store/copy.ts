/**
 * `mailgate store copy`: moves an sqlite install into an empty PostgreSQL database, every table
 * as it is — passcode hashes and lookup tags, TOTP ciphertexts, emergency and enrolment codes,
 * portal sessions and the whole audit log with its ids — in one PostgreSQL transaction, so a
 * failed copy leaves the target empty. The server secret is not in the database: copy
 * secret_file along, or no passcode will match its tag.
 */
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import type { Pool, PoolClient } from 'pg';
import { migrate } from './sqlite/migrations.js';
import { migratePostgres } from './postgres/migrations.js';

const BATCH = 500;

interface TableSpec {
  name: string;
  columns: string[];
  /** Source order; the PostgreSQL side keeps it (passcodes.seq, audit ids). */
  order: string;
  /** Converts a source value where the two schemas differ in type. */
  convert?: Partial<Record<string, (v: unknown) => unknown>>;
}

const TABLES: readonly TableSpec[] = [
  {
    name: 'accounts',
    columns: ['username', 'enforced', 'enforced_by', 'created_at', 'updated_at'],
    order: 'rowid',
    convert: { enforced: (v) => (v === null ? null : v === 1) },
  },
  {
    name: 'passcodes',
    columns: [
      'id',
      'username',
      'name',
      'scopes',
      'tag',
      'hash',
      'created_at',
      'expires_at',
      'revoked_at',
      'last_used_at',
      'last_used_ip',
      'last_used_client',
    ],
    order: 'rowid',
  },
  { name: 'totp', columns: ['username', 'secret', 'enabled_at', 'last_step', 'pending_secret', 'pending_at'], order: 'rowid' },
  { name: 'emergency_codes', columns: ['username', 'id', 'tag', 'hash', 'created_at', 'used_at'], order: 'rowid' },
  { name: 'enrol_codes', columns: ['username', 'tag', 'hash', 'created_at', 'expires_at', 'used_at'], order: 'rowid' },
  { name: 'portal_sessions', columns: ['id', 'username', 'stage', 'csrf', 'ip', 'created_at', 'last_seen_at'], order: 'rowid' },
  {
    name: 'rollout_observations',
    columns: ['username', 'protocol', 'client', 'ip', 'first_seen', 'last_seen', 'count'],
    order: 'rowid',
  },
  { name: 'rollout_notices', columns: ['username', 'sent_at'], order: 'rowid' },
  {
    name: 'audit',
    columns: ['id', 'ts', 'type', 'username', 'protocol', 'ip', 'passcode_id', 'outcome', 'reason', 'session_id', 'detail'],
    order: 'id',
  },
];

/** Rows copied per table. */
export type CopyCounts = Record<string, number>;

async function insertBatch(c: PoolClient, t: TableSpec, rows: Array<Record<string, unknown>>): Promise<void> {
  const args: unknown[] = [];
  const tuples = rows.map(
    (r) =>
      `(${t.columns
        .map((col) => {
          const conv = t.convert?.[col];
          args.push(conv ? conv(r[col]) : r[col]);
          return `$${args.length}`;
        })
        .join(', ')})`,
  );
  await c.query(`INSERT INTO ${t.name} (${t.columns.join(', ')}) VALUES ${tuples.join(', ')}`, args);
}

async function assertEmpty(c: PoolClient): Promise<void> {
  for (const t of TABLES) {
    const r = await c.query(`SELECT 1 FROM ${t.name} LIMIT 1`);
    if (r.rowCount) throw new Error(`the target database is not empty (table ${t.name} has rows): store copy only fills an empty database`);
  }
}

/** Copies every table of one sqlite table into PostgreSQL in batches (rowid/id pages, no full load). */
async function copyTable(src: Db, c: PoolClient, t: TableSpec): Promise<number> {
  const page = src.prepare<unknown[], Record<string, unknown> & { _k: number }>(
    `SELECT ${t.order} AS _k, ${t.columns.join(', ')} FROM ${t.name} WHERE ${t.order} > ? ORDER BY ${t.order} LIMIT ${BATCH}`,
  );
  let last = -1;
  let n = 0;
  for (;;) {
    const rows = page.all(last);
    if (rows.length === 0) return n;
    await insertBatch(c, t, rows);
    n += rows.length;
    last = rows.at(-1)!._k;
  }
}

/**
 * Copies the sqlite database at `from` (migrated to the current schema first) into the empty
 * PostgreSQL database behind `pool` (migrated too). Returns the rows copied per table.
 */
export async function copySqliteToPostgres(from: string, pool: Pool): Promise<CopyCounts> {
  const src = new Database(from, { fileMustExist: true });
  try {
    src.pragma('busy_timeout = 5000');
    migrate(src);
    await migratePostgres(pool);
    const c = await pool.connect();
    try {
      // One read snapshot of the source, one write transaction on the target.
      src.exec('BEGIN');
      await c.query('BEGIN');
      await assertEmpty(c);
      const counts: CopyCounts = {};
      for (const t of TABLES) counts[t.name] = await copyTable(src, c, t);
      // New audit events continue after the copied ids (--follow readers and API clients page by id).
      await c.query(
        `SELECT setval(pg_get_serial_sequence('audit', 'id'), GREATEST((SELECT max(id) FROM audit), 1), (SELECT max(id) FROM audit) IS NOT NULL)`,
      );
      for (const t of TABLES) {
        const want = (src.prepare(`SELECT count(*) AS n FROM ${t.name}`).get() as { n: number }).n;
        const got = Number((await c.query(`SELECT count(*) AS n FROM ${t.name}`)).rows[0].n);
        if (want !== got || want !== counts[t.name])
          throw new Error(`copy check failed for ${t.name}: ${want} rows in sqlite, ${got} in postgres`);
      }
      await c.query('COMMIT');
      return counts;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      if (src.inTransaction) src.exec('COMMIT');
      c.release();
    }
  } finally {
    src.close();
  }
}
