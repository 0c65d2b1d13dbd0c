/**
 * Moving an install to PostgreSQL, as an admin does it: `mailgate migrate` and `mailgate store
 * copy` run as real processes against a private PostgreSQL, then mailgate serves from PostgreSQL
 * in front of a real Dovecot and the passcode made on sqlite logs in.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { openCore, startServer } from '../../src/main.js';
import { replaceEmergencyCodes, useEmergencyCode } from '../../src/core/emergency.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostgres, type PostgresInstance } from '../../src/demo/postgres.js';
import { PG_LATEST_VERSION, PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';

const run = promisify(execFile);
const ALICE = 'alice@example.com';
const CLI = join(import.meta.dirname, '../support/cli-process.ts');
/** The schema version `mailgate migrate` reaches (it grows with every migration). */
const V = PG_LATEST_VERSION;

/** The real CLI in its own process; never throws, returns exit code and output. */
async function mailgate(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

describeInterop('store: sqlite → PostgreSQL with migrate and store copy', ['dovecot', 'postgres'], () => {
  let dovecot: DovecotInstance;
  let pgServer: PostgresInstance;
  let gate: Gate | undefined;
  beforeAll(async () => {
    [dovecot, pgServer] = await Promise.all([startDovecot(), startPostgres()]);
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await Promise.all([dovecot?.stop(), pgServer?.stop()]);
  });

  it('copies passcodes, TOTP, emergency codes and the audit log; the sqlite passcode logs in through mailgate on PostgreSQL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-copy-'));
    const sqliteDoc = gateConfigDoc(dovecot, dir);
    const sqliteConfig = buildConfig(sqliteDoc, join(dir, 'sqlite.yaml'));
    // An install with some history, made through the core as the CLI and portal make it.
    const core = await openCore(sqliteConfig, { hashWorkers: 1 });
    const pc = await core.manager.createPasscode(ALICE, { name: 'Thunderbird', scopes: ['imap', 'smtp'] });
    const old = await core.manager.createPasscode(ALICE, { name: 'old phone', scopes: ['imap'] });
    await core.manager.revokePasscode(ALICE, old.info.id);
    await core.manager.createPasscode('bob@example.com', { name: 'bob', scopes: ['imap'] });
    await core.store.setPendingTotp(ALICE, 'ciphertext-of-a-totp-secret', 1000);
    expect(await core.store.activateTotp(ALICE, 'ciphertext-of-a-totp-secret', 1001, 42)).toBe(true);
    const emergency = { store: core.store, hasher: core.hasher, tagKey: core.keys.tag, random: randomBytes };
    const codes = await replaceEmergencyCodes(emergency, ALICE, 2000);
    expect(await useEmergencyCode(emergency, ALICE, codes[0]!, 2001)).toBe('ok');
    // Observe mode's record (schema 5): a would-break login, counted twice, and its notice sent.
    for (const at of [3000, 3001])
      await core.store.recordObservation({ username: 'bob@example.com', protocol: 'imap', client: 'Mail 1', ip: '192.0.2.9', at });
    expect(await core.store.markRolloutNotice('bob@example.com', 3002)).toBe(true);
    const before = {
      passcodes: await core.store.listPasscodes(ALICE),
      totp: await core.store.getTotp(ALICE),
      codes: await core.store.listEmergencyCodes(ALICE),
      audit: await core.store.queryAudit({ limit: 1000 }),
      accounts: await core.store.listAccounts(),
      observations: await core.store.listObservations(),
    };
    expect(before.audit.map((e) => e.type)).toEqual(expect.arrayContaining(['passcode.create', 'passcode.revoke']));
    await core.close();

    const url = await pgServer.createDatabase('copy_target');
    const pgDoc = { ...sqliteDoc, store: { postgres: { url_env: 'MAILGATE_DATABASE_URL' } } };
    writeFileSync(join(dir, 'pg.yaml'), stringify(pgDoc));
    const env = { MAILGATE_DATABASE_URL: url };
    const cfg = ['--config', join(dir, 'pg.yaml')];

    // Two deploy scripts migrating at once: both succeed, each migration is applied once.
    const [m1, m2] = await Promise.all([mailgate(['migrate', ...cfg], env), mailgate(['migrate', ...cfg], env)]);
    // Each migration is its own transaction under one lock, so the second may start between two of
    // the first's migrations ("5 → 6") or after all of them ("up to date"); the first starts at 0.
    for (const m of [m1, m2]) {
      expect(m).toMatchObject({ code: 0, err: '' });
      expect(m.out).toMatch(new RegExp(`^postgres 127\\.0\\.0\\.1:\\d+/copy_target: schema version (\\d+ → ${V}|${V}, up to date)\n$`));
    }
    expect([m1.out, m2.out].some((o) => o.includes(`schema version 0 → ${V}`))).toBe(true);
    expect((await mailgate(['migrate', ...cfg], env)).out).toMatch(new RegExp(`schema version ${V}, up to date`));
    const check = new pg.Client({ connectionString: url });
    await check.connect();
    expect((await check.query('SELECT version FROM mailgate_schema ORDER BY version')).rows).toEqual(
      PG_MIGRATIONS.map((m) => ({ version: m.version })),
    );
    await check.end();

    const copy = await mailgate(['store', 'copy', '--from', join(dir, 'mailgate.db'), '--to', 'postgres', ...cfg, '--json'], env);
    expect(copy.code).toBe(0);
    const counts = JSON.parse(copy.out) as Record<string, number>;
    expect(counts).toMatchObject({ accounts: 2, passcodes: 3, totp: 1, emergency_codes: 10, audit: before.audit.length });
    expect(counts).toMatchObject({ rollout_observations: 1, rollout_notices: 1 });
    // A second copy would mix two installs: refused, target untouched.
    const again = await mailgate(['store', 'copy', '--from', join(dir, 'mailgate.db'), '--to', 'postgres', ...cfg], env);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/not empty/);

    // mailgate serving from PostgreSQL (same secret_file), in front of the same Dovecot.
    gate = await startGate(dovecot, { store: { sqlite: null, postgres: { url } }, secret_file: join(dir, 'secret.key') });
    const store = gate.server.core.store;
    expect(await store.listPasscodes(ALICE)).toEqual(before.passcodes);
    expect(await store.getTotp(ALICE)).toEqual(before.totp);
    expect(await store.listEmergencyCodes(ALICE)).toEqual(before.codes);
    expect(await store.queryAudit({ limit: 1000 })).toEqual(before.audit);
    expect(await store.listAccounts()).toEqual(before.accounts);
    expect(await store.listObservations()).toEqual(before.observations);
    expect(await store.markRolloutNotice('bob@example.com', 4000)).toBe(false); // sent before the copy: not again
    // New audit ids continue after the copied ones.
    const next = await store.appendAudit({ ...before.audit[0]!, id: undefined });
    expect(next).toBeGreaterThan(before.audit.at(-1)!.id!);

    const login = async (pass: string) => {
      const c = new ImapFlow({
        host: '127.0.0.1',
        port: gate!.imapsPort,
        secure: true,
        tls: { ca: readFileSync(gate!.ca) },
        auth: { user: ALICE, pass },
        logger: false,
      });
      c.on('error', () => {});
      try {
        await c.connect();
        const st = await c.status('INBOX', { messages: true });
        await c.logout();
        return `ok ${st ? st.messages : '?'}`;
      } catch (e) {
        return String((e as { responseText?: string }).responseText ?? (e as Error).message);
      } finally {
        c.close();
      }
    };
    expect(await login(pc.formatted)).toBe('ok 0');
    expect(await login(old.formatted)).not.toMatch(/^ok/);
    expect(await login('alice-main-pw')).not.toMatch(/^ok/);
    const e2 = { store, hasher: gate.server.core.hasher, tagKey: gate.server.core.keys.tag, random: randomBytes };
    expect(await useEmergencyCode(e2, ALICE, codes[0]!, 3000)).toBe('used');
    expect(await useEmergencyCode(e2, ALICE, codes[1]!, 3000)).toBe('ok');
  }, 120_000);

  it('serve --no-migrate refuses an unmigrated PostgreSQL database, naming the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-nomigrate-'));
    const url = await pgServer.createDatabase('unmigrated');
    const config = buildConfig({ ...gateConfigDoc(dovecot, dir), store: { postgres: { url } } }, join(dir, 'mailgate.yaml'));
    await expect(startServer(config, { migrate: false })).rejects.toThrow(/run `mailgate migrate`/);
  });
});
