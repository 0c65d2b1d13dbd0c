/**
 * The PostgreSQL backend against a real, private PostgreSQL (src/demo/postgres.ts): the same
 * contract suite as sqlite, plus what only this backend has (migrations under concurrency, the
 * append-only trigger, statement timeouts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { describeInterop } from '../../../test/support/interop.js';
import { startPostgres, type PostgresInstance } from '../../demo/postgres.js';
import { sampleAudit, storeContract } from '../contract.js';
import { AUDIT_ORDER_LOCK, createPool, openPostgresStore } from './index.js';
import { PG_LATEST_VERSION, PG_MIGRATIONS, migratePostgres, pgSchemaVersion } from './migrations.js';

describeInterop('postgres store', ['postgres'], () => {
  let server: PostgresInstance;
  let n = 0;
  const freshUrl = () => server.createDatabase(`t${process.pid}_${n++}`);
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  storeContract('postgres', async () => openPostgresStore({ url: await freshUrl() }));

  describe('postgres store specifics', () => {
    it('migrations: two processes migrating one fresh database at once apply each migration once', async () => {
      const url = await freshUrl();
      const pools = [createPool({ url }), createPool({ url }), createPool({ url })];
      try {
        const versions = await Promise.all(pools.map((p) => migratePostgres(p)));
        expect(versions).toEqual([PG_LATEST_VERSION, PG_LATEST_VERSION, PG_LATEST_VERSION]);
        const rows = await pools[0]!.query('SELECT version FROM mailgate_schema ORDER BY version');
        expect(rows.rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
        // Idempotent: once more changes nothing.
        expect(await migratePostgres(pools[1]!)).toBe(PG_LATEST_VERSION);
      } finally {
        await Promise.all(pools.map((p) => p.end()));
      }
    });

    it('migrate: false refuses an unmigrated database and a newer one', async () => {
      const url = await freshUrl();
      await expect(openPostgresStore({ url, migrate: false })).rejects.toThrow(/run `mailgate migrate`/);
      const pool = createPool({ url });
      await migratePostgres(pool);
      await pool.query(`INSERT INTO mailgate_schema (version, name) VALUES ($1, 'from the future')`, [PG_LATEST_VERSION + 1]);
      await pool.end();
      await expect(openPostgresStore({ url })).rejects.toThrow(/newer than this mailgate understands/);
      expect(
        await (async () => {
          const p = createPool({ url });
          try {
            return await pgSchemaVersion(p);
          } finally {
            await p.end();
          }
        })(),
      ).toBe(PG_LATEST_VERSION + 1);
    });

    it('audit is append-only in the database: UPDATE, DELETE, TRUNCATE refused; a gate passes only older rows', async () => {
      const url = await freshUrl();
      const store = await openPostgresStore({ url });
      for (const ts of [1000, 2000, 3000]) await store.appendAudit(sampleAudit({ ts }));
      expect(await store.pruneAudit(2500)).toBe(2);
      await store.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        expect((await c.query('SELECT count(*)::int AS n FROM audit_prune_gate')).rows[0].n).toBe(0);
        await expect(c.query(`UPDATE audit SET outcome = 'reject'`)).rejects.toThrow(/append-only/);
        await expect(c.query('DELETE FROM audit')).rejects.toThrow(/append-only/);
        await expect(c.query('TRUNCATE audit')).rejects.toThrow(/append-only/);
        await c.query('BEGIN');
        await c.query('INSERT INTO audit_prune_gate (before) VALUES (2500)');
        await expect(c.query('DELETE FROM audit')).rejects.toThrow(/append-only/);
        await c.query('ROLLBACK');
        expect((await c.query('SELECT ts FROM audit')).rows).toEqual([{ ts: '3000' }]);
      } finally {
        await c.end();
      }
    });

    it('audit ids commit in the order they are handed out: an insert waits while another writer holds the order lock', async () => {
      // What a follower ("id > last seen") relies on with several instances: no id commits after a larger one.
      const url = await freshUrl();
      const store = await openPostgresStore({ url });
      const other = new pg.Client({ connectionString: url }); // another instance, mid-insert
      await other.connect();
      try {
        await other.query('BEGIN');
        await other.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_ORDER_LOCK]);
        let done = false;
        const pending = store.appendAudit(sampleAudit({ ts: 1 })).then((id) => {
          done = true;
          return id;
        });
        await new Promise((r) => setTimeout(r, 300));
        expect(done).toBe(false);
        await other.query('COMMIT');
        expect(await pending).toBeGreaterThan(0);
        const batch = await store.writeBatch({ audit: [sampleAudit({ ts: 2 }), sampleAudit({ ts: 3 })], passcodeUses: [] });
        expect(batch).toHaveLength(2);
      } finally {
        await other.end();
        await store.close();
      }
    });

    it('a statement that runs past statement_timeout is cancelled, and the pool goes on', async () => {
      const url = await freshUrl();
      const pool = createPool({ url, statementTimeoutMs: 200 });
      try {
        const t0 = Date.now();
        await expect(pool.query('SELECT pg_sleep(5)')).rejects.toThrow(/statement timeout/);
        expect(Date.now() - t0).toBeLessThan(2000);
        expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await pool.end();
      }
    });
  });
});
