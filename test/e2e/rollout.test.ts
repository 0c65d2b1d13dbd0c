/**
 * Issue 14: rolling enforcement out. Against a real Dovecot and Postfix: an observed account logs
 * in with its main password over IMAP (imapflow, which sends ID) and SMTP (nodemailer, EHLO name)
 * and the report names both apps; a `from` date in the past enforces; a date passing while a
 * main-password session is live ends it; the CLI (dist) and the admin API report the same; the
 * rollout notice lands once in the INBOX, read straight from Dovecot.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RolloutReport } from '../../src/core/rollout-report.js';
import { DEFAULT_USERS, startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';

const run = promisify(execFile);
const ALICE = { user: 'alice@example.com', pass: 'alice-main-pw' };
const BOB = { user: 'bob@example.com', pass: 'bob-main-pw' };
const DAVE = { user: 'dave@example.com', pass: 'dave-main-pw' };
const ADMIN_TOKEN = 'rollout-admin-token-0123456789';
const PORTAL_URL = 'https://mail.example.com/2fa';
const BIN = join(import.meta.dirname, '../../bin/mailgate.js');

/** The policy under test; DAVE's date is moved by the date-passing case. */
const overrides = (daveFrom: string) => ({
  policy: {
    enforce: [
      { account: ALICE.user, from: '2020-01-01' },
      { account: DAVE.user, from: daveFrom },
    ],
    observe: [BOB.user],
  },
  notify: { enabled: true },
  portal: { listen: { host: '127.0.0.1', port: 0 }, public_url: PORTAL_URL },
  admin: { token: ADMIN_TOKEN },
});

describeInterop('issue 14: observe mode, cut-over dates, rollout report', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  let configFile: string;

  const imap = (user: string, pass: string) => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca), servername: 'localhost' },
      auth: { user, pass },
      clientInfo: { name: 'RolloutMail', version: '2.1' },
      logger: false,
      disableAutoIdle: true,
    });
    c.on('error', () => {});
    return c;
  };
  /** Logs in through mailgate and out again; true when the login was accepted. */
  const imapLogin = async (user: string, pass: string) => {
    const c = imap(user, pass);
    try {
      await c.connect();
    } catch {
      return false;
    }
    await c.logout().catch(() => {});
    return true;
  };
  const api = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${gate.server.portal!.address.port}/api/admin${path}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return { status: res.status, body: (await res.json()) as RolloutReport };
  };
  /** The installed CLI (bin/mailgate.js → dist/): build it first (npx tsc -p tsconfig.build.json). */
  const cli = async (...argv: string[]) => (await run('node', [BIN, ...argv, '--config', configFile])).stdout;
  /** The rollout notices in the user's INBOX, read from Dovecot directly with the main password. */
  const notices = async (user: string, pass: string): Promise<string[]> => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: dovecot.imapsPort,
      secure: true,
      tls: { ca: readFileSync(dovecot.certs.caCert), servername: 'localhost' },
      auth: { user, pass },
      logger: false,
      disableAutoIdle: true,
    });
    c.on('error', () => {});
    await c.connect();
    try {
      const box = await c.mailboxOpen('INBOX');
      const out: string[] = [];
      if (box.exists === 0) return out;
      for await (const m of c.fetch('1:*', { source: true })) {
        const raw = m.source?.toString('utf8') ?? '';
        if (/^X-Mailgate-Event: rollout\.notice\r?$/im.test(raw)) out.push(raw);
      }
      return out;
    } finally {
      await c.logout().catch(() => {});
    }
  };
  const waitFor = async <T>(get: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<{ value: T; afterMs: number }> => {
    const start = Date.now();
    for (;;) {
      const value = await get();
      if (ok(value)) return { value, afterMs: Date.now() - start };
      if (Date.now() - start > ms) throw new Error(`condition not met within ${ms} ms: ${JSON.stringify(value).slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [...DEFAULT_USERS, { user: DAVE.user, password: DAVE.pass }] });
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, overrides('2099-01-01'), postfix);
    configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, overrides('2099-01-01'), postfix)));
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('observe: the main password works over IMAP and SMTP, and the report names both apps (ID name, EHLO name)', async () => {
    expect(await imapLogin(BOB.user, BOB.pass)).toBe(true);
    await createTransport({
      host: '127.0.0.1',
      port: gate.smtpPort,
      secure: false,
      requireTLS: true,
      name: 'bob-laptop.example',
      tls: { ca: readFileSync(gate.ca), servername: 'localhost' },
      auth: { user: BOB.user, pass: BOB.pass },
      logger: false,
    }).sendMail({ from: BOB.user, to: BOB.user, subject: 'rollout smtp', text: 'x' });
    const { value: r } = await waitFor(
      () => api('/rollout'),
      (x) => (x.body.accounts.find((a) => a.account === BOB.user)?.wouldBreak.length ?? 0) >= 2,
      3_000,
    );
    expect(r.status).toBe(200);
    const bob = r.body.accounts.find((a) => a.account === BOB.user)!;
    expect(bob).toMatchObject({ mode: 'observe', from: null, source: 'policy', totpEnrolled: false, activePasscodes: 0 });
    expect(bob.wouldBreak.map((c) => [c.client, c.protocol, c.ip, c.count]).sort()).toEqual([
      ['RolloutMail 2.1', 'imap', '127.0.0.1', 1],
      ['bob-laptop.example', 'smtp', '127.0.0.1', 1],
    ]);
    const audit = await gate.server.core.store.queryAudit({ username: BOB.user, type: 'auth' });
    expect(audit.filter((e) => e.outcome === 'passthrough').map((e) => e.reason)).toEqual(['observe', 'observe']);
  });

  it('a from date in the past enforces: the main password is refused, a passcode logs in', async () => {
    expect(await imapLogin(ALICE.user, ALICE.pass)).toBe(false);
    const pc = await gate.server.core.manager.createPasscode(ALICE.user, { name: 'rollout', scopes: ['imap'] });
    expect(await imapLogin(ALICE.user, pc.formatted)).toBe(true);
    const alice = (await api('/rollout')).body.accounts.find((a) => a.account === ALICE.user)!;
    expect(alice).toMatchObject({ mode: 'enforce', from: new Date(2020, 0, 1).getTime(), wouldBreak: [], activePasscodes: 1 });
  });

  it('the rollout notice arrives once in the INBOX, naming the app and the portal', async () => {
    const first = await waitFor(
      () => notices(BOB.user, BOB.pass),
      (n) => n.length >= 1,
      5_000,
    );
    console.info(`rollout notice in INBOX after ${first.afterMs} ms`);
    const raw = first.value[0]!;
    expect(raw).toMatch(/^Subject: \[mailgate\] Your mail apps will need an app passcode\r?$/m);
    expect(raw).toContain(`Soon the mail apps of ${BOB.user} need an app passcode`);
    expect(raw).toContain('- RolloutMail 2.1 (imap)');
    expect(raw).toContain(PORTAL_URL);
    expect(await imapLogin(BOB.user, BOB.pass)).toBe(true); // more would-break logins: no second notice
    expect(await imapLogin(BOB.user, BOB.pass)).toBe(true);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await notices(BOB.user, BOB.pass)).toHaveLength(1);
    expect(await gate.server.core.store.queryAudit({ type: 'rollout.notice' })).toHaveLength(1);
  });

  it('the report CLI (dist) and the admin API give the same accounts and totals; ?domain= filters', async () => {
    const fromApi = (await api('/rollout')).body;
    const fromCli = JSON.parse(await cli('report', 'rollout', '--json')) as RolloutReport;
    expect(fromCli.domains).toEqual(fromApi.domains);
    expect(fromCli.accounts).toEqual(fromApi.accounts);
    const com = fromApi.domains.find((d) => d.domain === 'example.com')!;
    expect(com).toMatchObject({ wouldBreak: 1, withPasscodes: 1, enrolled: 0 });
    console.info(`rollout totals: ${JSON.stringify(fromApi.domains)}`);
    expect((await api('/rollout?domain=example.org')).body).toMatchObject({ accounts: [], domains: [] });
    const text = await cli('report', 'rollout', '--domain', 'example.com');
    expect(text).toMatch(new RegExp(`${BOB.user}\\s+observe\\s+-\\s+no\\s+0\\s+2`));
    expect(text).toMatch(new RegExp(`${BOB.user}\\s+bob-laptop\\.example\\s+smtp\\s+127\\.0\\.0\\.1`));
    expect(text).toMatch(/example\.com\s+\d+\s+1\s+0\s+1/);
  }, 20_000);

  it('a from date passing while a main-password IMAP session is live ends the session; new logins are refused', async () => {
    const c = imap(DAVE.user, DAVE.pass);
    const closed = new Promise<number>((res) => c.once('close', () => res(Date.now())));
    await c.connect(); // observing until the date: the main password works
    await c.mailboxOpen('INBOX');
    void c.idle().catch(() => {});
    const at = Date.now() + 2_000;
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, overrides(new Date(at).toISOString()), postfix)));
    await gate.server.reload(); // the date is still ahead: the session stays
    const early = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), at - Date.now() - 300))]);
    expect(early).toBeNull();
    const end = await Promise.race([closed, new Promise<null>((r) => setTimeout(() => r(null), at - Date.now() + 2_000))]);
    console.info(`session ended ${end === null ? 'not at all' : `${end - at} ms after the date`}`);
    expect(end).not.toBeNull();
    expect(end! - at).toBeLessThanOrEqual(1_500);
    expect(await imapLogin(DAVE.user, DAVE.pass)).toBe(false);
    expect(gate.logs()).toContain('account now enforced');
  }, 20_000);
});
