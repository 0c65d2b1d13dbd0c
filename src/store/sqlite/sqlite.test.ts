import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { samplePasscode, sampleAudit, storeContract } from '../contract.js';
import { openSqliteStore } from './index.js';
import { LATEST_VERSION, MIGRATIONS, migrate } from './migrations.js';

const tmp = mkdtempSync(join(tmpdir(), 'mailgate-sqlite-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const freshPath = (): string => join(tmp, `db-${process.pid}-${counter++}`, 'mailgate.db');

storeContract('sqlite :memory:', () => openSqliteStore(':memory:'));
storeContract('sqlite file', () => openSqliteStore(freshPath()));

/** A schema-2 database as a release before migration 3 left it. */
function prepareV2(path: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  const db = new Database(path);
  expect(
    migrate(
      db,
      MIGRATIONS.filter((m) => m.version <= 2),
    ),
  ).toBe(2);
  const account = db.prepare('INSERT INTO accounts (username, enforced, created_at, updated_at) VALUES (?, ?, 1, 2)');
  for (const [u, e] of [
    ['admin@example.com', 1],
    ['portal@example.com', 1],
    ['quiet@example.com', 1],
    ['off@example.com', 0],
    ['none@example.com', null],
  ] as const)
    account.run(u, e);
  const event = db.prepare(`INSERT INTO audit (ts, type, username, outcome, detail) VALUES (?, ?, ?, 'ok', ?)`);
  event.run(1, 'account.enforce', 'admin@example.com', JSON.stringify({ actor: 'portal', enforced: true }));
  event.run(2, 'account.enforce', 'admin@example.com', JSON.stringify({ actor: 'cli', enforced: true }));
  event.run(3, 'account.enforce', 'portal@example.com', JSON.stringify({ actor: 'api', enforced: true }));
  event.run(4, 'account.release', 'portal@example.com', JSON.stringify({ actor: 'api', enforced: null }));
  event.run(5, 'account.enforce', 'portal@example.com', JSON.stringify({ actor: 'portal', enforced: true }));
  event.run(6, 'account.enforce', 'quiet@example.com', null);
  event.run(7, 'account.enforce', 'none@example.com', JSON.stringify({ actor: 'portal', enforced: true }));
  db.close();
}

describe('sqlite store specifics', () => {
  it('keeps data across reopen', async () => {
    const path = freshPath();
    const a = await openSqliteStore(path);
    await a.insertPasscode(samplePasscode());
    await a.setEnforcement('bob', false, 1, 'admin');
    const auditId = await a.appendAudit(sampleAudit({ detail: { k: 'v' } }));
    await a.close();
    const b = await openSqliteStore(path);
    expect(await b.getPasscode('pc_1')).toEqual(samplePasscode());
    expect(await b.getAccount('bob')).toMatchObject({ enforced: false });
    expect(await b.queryAudit({})).toEqual([{ ...sampleAudit({ detail: { k: 'v' } }), id: auditId }]);
    // AUTOINCREMENT: ids keep increasing after reopen.
    expect(await b.appendAudit(sampleAudit())).toBeGreaterThan(auditId);
    await b.close();
  });

  it('shares one file between connections (CLI revokes while the daemon runs)', async () => {
    const path = freshPath();
    const daemon = await openSqliteStore(path);
    const cli = await openSqliteStore(path);
    await daemon.insertPasscode(samplePasscode());
    expect(await cli.revokePasscode('alice@example.org', 'pc_1', 42)).toBe(true);
    expect(await daemon.revokedSince(42)).toEqual([{ id: 'pc_1', username: 'alice@example.org', revokedAt: 42 }]);
    await cli.close();
    await daemon.close();
  });

  it('applies migrations idempotently and records the version', async () => {
    const path = freshPath();
    for (let i = 0; i < 3; i++) await (await openSqliteStore(path)).close();
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(LATEST_VERSION);
    expect(migrate(db)).toBe(LATEST_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('migrates a v2 database: override owners from the newest account.enforce event', async () => {
    const path = freshPath();
    prepareV2(path);
    const store = await openSqliteStore(path);
    const owner = async (u: string) => (await store.getAccount(u))?.enforcedBy;
    expect(await owner('admin@example.com')).toBe('admin'); // enrolled in the portal first, then an admin enforced
    expect(await owner('portal@example.com')).toBe('portal'); // admin-enforced, released, then the user turned 2FA on
    expect(await owner('quiet@example.com')).toBe('admin'); // no actor on record: the safe side
    expect(await owner('off@example.com')).toBe('admin');
    expect(await owner('none@example.com')).toBeNull();
    expect(await store.getAccount('portal@example.com')).toMatchObject({ enforced: true, createdAt: 1, updatedAt: 2 });
    await store.close();
  });

  it('refuses a database newer than the code', async () => {
    const path = freshPath();
    await (await openSqliteStore(path)).close();
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_VERSION + 1}`);
    db.close();
    await expect(openSqliteStore(path)).rejects.toThrow(/newer than this mailgate understands/);
  });

  it('creates the directory 0700 and the file 0600', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    await store.appendAudit(sampleAudit());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('blocks UPDATE and DELETE on audit rows with triggers', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    await store.appendAudit(sampleAudit());
    await store.close();
    const db = new Database(path);
    expect(() => db.prepare("UPDATE audit SET outcome = 'reject'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    expect(db.prepare('SELECT outcome FROM audit').all()).toEqual([{ outcome: 'accept' }]);
    db.close();
  });

  it('migrate: false (serve --no-migrate) refuses an outdated schema and opens a current one', async () => {
    const path = freshPath();
    await expect(openSqliteStore(path, { migrate: false })).rejects.toThrow(
      /schema is at version 0, this mailgate needs \d+: run `mailgate migrate`/,
    );
    await (await openSqliteStore(path)).close();
    const store = await openSqliteStore(path, { migrate: false });
    await store.close();
  });

  it('retention: only pruneAudit deletes, and only older rows; an ad-hoc DELETE stays refused', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    for (const ts of [1000, 2000, 3000]) await store.appendAudit(sampleAudit({ ts }));
    expect(await store.pruneAudit(2500)).toBe(2);
    await store.close();
    const db = new Database(path);
    expect(db.prepare('SELECT count(*) AS n FROM audit_prune_gate').get()).toEqual({ n: 0 });
    expect(() => db.prepare('DELETE FROM audit').run()).toThrow(/append-only/);
    // A gate row only lets rows older than its cutoff go, even inside one transaction.
    expect(() =>
      db.transaction(() => {
        db.prepare('INSERT INTO audit_prune_gate (before) VALUES (2500)').run();
        db.prepare('DELETE FROM audit').run();
      })(),
    ).toThrow(/append-only/);
    expect(db.prepare('SELECT ts FROM audit').all()).toEqual([{ ts: 3000 }]);
    db.close();
  });

  it('enforces foreign keys and cascades account deletion', async () => {
    const path = freshPath();
    const store = await openSqliteStore(path);
    await store.insertPasscode(samplePasscode());
    await store.close();
    const db = new Database(path);
    db.pragma('foreign_keys = ON'); // per-connection setting, as in the store
    expect(() =>
      db
        .prepare("INSERT INTO passcodes (id, username, name, scopes, tag, hash, created_at) VALUES ('x', 'ghost', 'n', '', 't', 'h', 0)")
        .run(),
    ).toThrow(/FOREIGN KEY/);
    db.prepare('DELETE FROM accounts').run();
    expect(db.prepare('SELECT count(*) AS n FROM passcodes').get()).toEqual({ n: 0 });
    db.close();
  });

  it('keeps every committed write when the writer is SIGKILLed', async () => {
    const path = freshPath();
    const fixture = fileURLToPath(new URL('./crash-writer.fixture.ts', import.meta.url));
    const root = fileURLToPath(new URL('../../../', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, sig) => resolve(sig)));
    // Start the 300 ms clock at the first committed write, not at spawn (tsx startup varies).
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`writer never wrote; stderr: ${err}`)), 15_000);
      child.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`writer exited early; stderr: ${err}`));
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const ids = out.split('\n').filter((l) => l.startsWith('crash-'));
    expect(ids.length).toBeGreaterThan(10);
    const raw = new Database(path);
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    const store = await openSqliteStore(path);
    const present = await Promise.all(ids.map(async (id) => (await store.getPasscode(id)) !== undefined));
    expect(present.filter((p) => !p)).toHaveLength(0);
    const audit = await store.queryAudit({ type: 'passcode.create', limit: 1_000_000 });
    const audited = new Set(audit.map((e) => e.passcodeId));
    expect(ids.every((id) => audited.has(id))).toBe(true);
    await store.close();
  }, 30_000);
});
