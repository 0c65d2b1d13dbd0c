/**
 * The row cache (store/row-cache.ts) with two instances on one PostgreSQL and one Redis, in front
 * of a real Dovecot: B answers warm logins from memory, yet what an admin changes through A — a
 * revocation, an enforcement — holds on B at the first login after the push arrives; while Redis
 * is down B keeps nothing in memory (a push could be lost), and caches again once it is back.
 * And a one-box gate on SQLite without Redis: a revocation committed by another process is
 * refused at the very next login (PRAGMA data_version), not at the next poll.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostgres, type PostgresInstance } from '../../src/demo/postgres.js';
import { startRedis, type RedisInstance } from '../../src/demo/redis.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { startGate, type Gate } from '../support/gate.js';
import { pollUntil } from '../support/poll.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';

const ALICE = 'alice@example.com'; // enforced by the test policy
const BOB = { user: 'bob@example.com', password: 'bob-main-pw' }; // not enforced: main password

describeInterop('row cache: two instances on PostgreSQL + Redis, one on SQLite alone', ['dovecot', 'postgres', 'redis'], () => {
  let dovecot: DovecotInstance;
  let pg: PostgresInstance;
  let redis: RedisInstance;
  let a: Gate;
  let b: Gate;
  let c: Gate;
  const sqliteFile = join(mkdtempSync(join(tmpdir(), 'mailgate-rowcache-sqlite-')), 'mailgate.db');

  const login = async (gate: Gate, user: string, secret: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
    await raw.until(/^\* OK/);
    const answer = (await raw.cmd('t1', `LOGIN ${user} "${secret}"`)).at(-1)!;
    raw.close();
    return /^t1 OK/.test(answer);
  };
  /** Resolves when B has received a push of `type` (the message is only the event type). */
  const pushOnB = (type: string) =>
    new Promise<number>((resolve) => {
      const waker = b.server.core.shared!.waker;
      const orig = waker.onMessage.bind(waker);
      waker.onMessage = (t) => {
        orig(t);
        if (t === type) {
          waker.onMessage = orig;
          resolve(Date.now());
        }
      };
    });
  const waitFor = pollUntil;
  const rowsOf = (g: Gate) => g.server.core.rows!;

  beforeAll(async () => {
    [dovecot, pg, redis] = await Promise.all([startDovecot(), startPostgres(), startRedis()]);
    const overrides = {
      store: { sqlite: null, postgres: { url: await pg.createDatabase('rowcache') }, row_cache_ttl: '1m' },
      secret_file: join(mkdtempSync(join(tmpdir(), 'mailgate-rowcache-')), 'secret.key'),
      redis: { url: redis.url, prefix: 'mg-rowcache:' },
    };
    a = await startGate(dovecot, overrides);
    b = await startGate(dovecot, overrides);
    c = await startGate(dovecot, { store: { sqlite: sqliteFile } });
  }, 90_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
    await Promise.all([redis?.stop(), dovecot?.stop(), pg?.stop()]);
  });

  it('warm logins on B read no row from the store; a revocation through A is refused on B at the first login after the push', async () => {
    const p = await a.server.core.manager.createPasscode(ALICE, { name: 'phone', scopes: ['imap'] });
    expect(await login(b, ALICE, p.formatted)).toBe(true);
    await b.server.core.writes.flush(); // its last use committed (which drops the passcode's row)
    expect(await login(b, ALICE, p.formatted)).toBe(true); // reads the passcode row again, keeps it
    const hits = rowsOf(b).hits;
    expect(await login(b, ALICE, p.formatted)).toBe(true);
    expect(rowsOf(b).hits - hits).toBe(2); // account and passcode rows from memory
    const pushed = pushOnB('passcode.revoke');
    const t0 = Date.now();
    expect((await a.server.core.manager.revokePasscode(ALICE, p.info.id)).revoked).toBe(true);
    const arrived = await pushed;
    expect(await login(b, ALICE, p.formatted)).toBe(false);
    console.log(`row cache: push reached B ${arrived - t0} ms after the revocation began; B's next login refused`);
  });

  it("an enforcement through A refuses B's next main-password login (B had the account cached as not enforced)", async () => {
    expect(await login(b, BOB.user, BOB.password)).toBe(true);
    const hits = rowsOf(b).hits;
    expect(await login(b, BOB.user, BOB.password)).toBe(true);
    expect(rowsOf(b).hits).toBeGreaterThan(hits); // the "no override" answer came from memory
    const pushed = pushOnB('account.enforce');
    await a.server.core.manager.setEnforcement(BOB.user, true);
    await pushed;
    expect(await login(b, BOB.user, BOB.password)).toBe(false);
    await a.server.core.manager.setEnforcement(BOB.user, null);
  });

  it('Redis down: B keeps nothing in memory and sees an enforcement through A at once; back: caches again', async () => {
    await login(b, BOB.user, BOB.password); // cached under the current epoch
    await redis.kill();
    expect(await waitFor(() => b.server.core.shared!.link.epoch === null && a.server.core.shared!.link.up === false, 5_000)).toBe(true);
    const hits = rowsOf(b).hits;
    expect(await login(b, BOB.user, BOB.password)).toBe(true);
    await a.server.core.manager.setEnforcement(BOB.user, true); // its push is lost: Redis is down
    expect(await login(b, BOB.user, BOB.password)).toBe(false);
    expect(rowsOf(b).hits).toBe(hits); // nothing was served from memory
    await a.server.core.manager.setEnforcement(BOB.user, null);

    await redis.restart();
    expect(await waitFor(() => b.server.core.shared!.link.epoch !== null, 10_000)).toBe(true);
    // B's live-policy poll also drops the rows when it reads the outage's enforce/release events
    // (within 500 ms): a few logins, until one is answered from memory.
    for (let i = 0; i < 10 && rowsOf(b).hits === hits; i++) {
      expect(await login(b, BOB.user, BOB.password)).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rowsOf(b).hits).toBeGreaterThan(hits);
  }, 30_000);

  it('SQLite, no Redis: a revocation committed by another process is refused at the very next login', async () => {
    // Three times, each login right after the commit: the 500 ms revocation poll cannot be what
    // refuses all three (with the data_version check disabled, this test fails).
    for (let i = 0; i < 3; i++) {
      const p = await c.server.core.manager.createPasscode(ALICE, { name: `laptop ${i}`, scopes: ['imap'] });
      expect(await login(c, ALICE, p.formatted)).toBe(true);
      await c.server.core.writes.flush();
      expect(await login(c, ALICE, p.formatted)).toBe(true);
      // Served from memory until then. The revocation poll (every 500 ms) that finds the previous
      // round's revocation empties the cache when it runs: under load it can fall between the two
      // logins (CI saw 0 hits once), so a warm login is measured again then.
      let served = 0;
      for (let attempt = 0; attempt < 3 && served !== 2; attempt++) {
        const hits = rowsOf(c).hits;
        expect(await login(c, ALICE, p.formatted)).toBe(true);
        served = rowsOf(c).hits - hits;
      }
      expect(served).toBe(2);
      const other = await openSqliteStore(sqliteFile, { migrate: false }); // as `mailgate passcodes revoke` does
      expect(await other.revokePasscode(ALICE, p.info.id, Date.now())).toBe(true);
      await other.close();
      expect(await login(c, ALICE, p.formatted)).toBe(false);
    }
  });
});
