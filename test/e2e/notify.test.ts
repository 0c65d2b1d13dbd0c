/**
 * Finding 3 (trust-on-first-use enrolment): the owner is told in their own mailbox. Security
 * events — made through the core in the serving process, or by the CLI in another process — end
 * up as a message in the account's INBOX on the real Dovecot, read back with the user's own
 * password, straight from Dovecot (not through mailgate).
 */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { twoFactorOf } from '../../src/cli/totp.js';
import { ImapUpstream } from '../../src/protocols/imap/upstream.js';
import { totpCode } from '../../src/core/totp.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const run = promisify(execFile);
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
const PORTAL_URL = 'https://mail.example.com/2fa';

describeInterop("finding 3: security notices in the owner's mailbox", ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  const seen = new Set<string>();

  /** Every notice in the user's INBOX, read directly from Dovecot with the user's own password. */
  async function notices(user: string): Promise<Array<{ uid: number; raw: string }>> {
    const pass = dovecot.users.find((u) => u.user === user)!.password;
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
      const out: Array<{ uid: number; raw: string }> = [];
      if (box.exists === 0) return out;
      for await (const m of c.fetch('1:*', { uid: true, source: true })) {
        const raw = m.source?.toString('utf8') ?? '';
        if (/^X-Mailgate-Event:/im.test(raw)) out.push({ uid: m.uid, raw });
      }
      return out;
    } finally {
      await c.logout().catch(() => {});
    }
  }

  /** Waits for a notice of `event` not returned before; resolves with it and how long it took. */
  async function nextNotice(user: string, event: string, ms = 5_000): Promise<{ raw: string; afterMs: number }> {
    const start = Date.now();
    for (;;) {
      const hit = (await notices(user)).find((n) => !seen.has(`${user}/${n.uid}`) && n.raw.includes(`\r\nX-Mailgate-Event: ${event}\r\n`));
      if (hit) {
        seen.add(`${user}/${hit.uid}`);
        return { raw: hit.raw, afterMs: Date.now() - start };
      }
      if (Date.now() - start > ms) throw new Error(`no ${event} notice for ${user} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const header = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(raw.split('\r\n\r\n')[0]!)?.[1];
  const waitForLog = async (g: Gate, re: RegExp, ms = 8_000) => {
    const end = Date.now() + ms;
    while (!re.test(g.logs())) {
      if (Date.now() > end) throw new Error(`no log line matching ${re}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const freePort = () =>
    new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });

  beforeAll(async () => {
    dovecot = await startDovecot();
    gate = await startGate(dovecot, {
      notify: { enabled: true },
      portal: { listen: { host: '127.0.0.1', port: 0 }, public_url: PORTAL_URL },
    });
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('finding 3: the owner is told in their mailbox when a passcode is created for them, with the IP and no secret', async () => {
    const r = await gate.server.core.manager.createPasscode(
      ALICE,
      { name: 'Phone\r\nBcc: evil@example.net', scopes: ['imap', 'smtp'] },
      { actor: 'portal', ip: '192.0.2.7' },
    );
    const n = await nextNotice(ALICE, 'passcode.create');
    console.info(`passcode.create notice in INBOX after ${n.afterMs} ms`);
    expect(n.afterMs).toBeLessThan(5_000);
    expect(header(n.raw, 'Subject')).toBe('[mailgate] A new app passcode was created');
    expect(header(n.raw, 'Auto-Submitted')).toBe('auto-generated');
    expect(header(n.raw, 'To')).toBe(`<${ALICE}>`);
    expect(header(n.raw, 'From')).toBe('mailgate <postmaster@example.com>');
    expect(header(n.raw, 'Bcc')).toBeUndefined(); // the injected line stayed in the body, flattened
    expect(n.raw).toContain('"Phone Bcc: evil@example.net"');
    expect(n.raw).toContain('IMAP (reading mail), SMTP (sending mail)');
    expect(n.raw).toContain('IP address 192.0.2.7');
    expect(n.raw).toContain(PORTAL_URL);
    expect(n.raw).not.toContain(r.passcode);
    expect(n.raw).not.toContain(r.formatted);
    expect(gate.logs()).toMatch(/"event":"passcode.create".*security notice delivered/);
  }, 20_000);

  it('finding 3: the owner is told when 2FA is turned on and when an admin resets the authenticator', async () => {
    const tf = twoFactorOf(gate.server.core);
    const e = await tf.beginEnrolment(ALICE);
    expect((await tf.confirmEnrolment(ALICE, totpCode(e.secret, Date.now()), { actor: 'portal', ip: '192.0.2.8' })).ok).toBe(true);
    const on = await nextNotice(ALICE, 'totp.enable');
    expect(header(on.raw, 'Subject')).toBe('[mailgate] Two-factor authentication was turned on');
    expect(on.raw).toContain('IP address 192.0.2.8');
    expect(on.raw).not.toContain(e.secret);
    expect(on.raw).not.toContain(e.manualKey);

    expect((await tf.reset(ALICE, { actor: 'cli' })).removed).toBe(true); // what `mailgate totp reset` calls
    const reset = await nextNotice(ALICE, 'totp.reset');
    console.info(`totp.reset notice in INBOX after ${reset.afterMs} ms`);
    expect(header(reset.raw, 'Subject')).toBe('[mailgate] Your authenticator app was reset by an administrator');
    expect(reset.raw).toContain('removed by an administrator (command line)');
  }, 20_000);

  it('finding 3: a passcode created by the CLI in another process is notified by the serving process', async () => {
    const configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir)));
    const cli = join(import.meta.dirname, '../support/cli-process.ts');
    const { stdout } = await run(process.execPath, [
      '--import',
      'tsx',
      cli,
      'passcodes',
      'create',
      BOB,
      '--name',
      'made by cli',
      '--scopes',
      'smtp',
      '--config',
      configFile,
      '--json',
    ]);
    const created = JSON.parse(stdout) as { passcode: string };
    const n = await nextNotice(BOB, 'passcode.create');
    console.info(`CLI passcode.create notice in INBOX after ${n.afterMs} ms`);
    expect(n.raw).toContain('"made by cli" was created for bob@example.com by an administrator (command line)');
    expect(n.raw).toContain('SMTP (sending mail)');
    expect(n.raw).not.toContain(created.passcode);
    expect(n.raw).not.toContain(created.passcode.replace(/ /g, ''));
    expect(gate.logs()).not.toContain(created.passcode.replace(/ /g, ''));
  }, 30_000);

  it('APPEND to an upstream without LITERAL+ waits for the "+" continuation (synchronising literal)', async () => {
    const up = await ImapUpstream.open(gate.server.core.config.imap!.upstream);
    try {
      expect((await up.login({ kind: 'master', user: BOB })).status).toBe('OK');
      up.capabilities = up.capabilities.filter((c) => !/^LITERAL[+-]$/i.test(c)); // as an older server would offer
      const r = await up.append(
        'INBOX',
        Buffer.from('Subject: sync literal\r\nX-Mailgate-Event: test.sync\r\n\r\nnon-ASCII body: ünïcödé\r\n'),
      );
      expect(r.status).toBe('OK');
      expect(r.text).toMatch(/APPENDUID/);
    } finally {
      up.close();
    }
    const n = await nextNotice(BOB, 'test.sync');
    expect(n.raw).toContain('ünïcödé');
  }, 20_000);

  it('finding 3: notify.enabled false sends nothing', async () => {
    const off = await startGate(dovecot, { notify: { enabled: false } });
    try {
      const before = (await notices(BOB)).length;
      await off.server.core.manager.createPasscode(BOB, { name: 'quiet', scopes: ['imap'] }, 'cli');
      await new Promise((r) => setTimeout(r, 2_500)); // the enabled gate above delivers well within this
      expect((await notices(BOB)).length).toBe(before);
      expect(off.logs()).not.toMatch(/security notice/);
    } finally {
      await off.close();
    }
  }, 20_000);

  it('finding 3: upstream unreachable — the action succeeds and the log names the stage', async () => {
    const port = await freePort();
    const down = await startGate(dovecot, { notify: { enabled: true }, imap: { upstream: { port } } });
    try {
      const r = await down.server.core.manager.createPasscode(BOB, { name: 'while down', scopes: ['imap'] }, 'cli');
      expect(r.info.status).toBe('active');
      await waitForLog(down, /security notice not delivered/);
      const line = down
        .logs()
        .split('\n')
        .find((l) => l.includes('security notice not delivered'))!;
      expect(JSON.parse(line)).toMatchObject({ level: 40, account: BOB, event: 'passcode.create', stage: 'connect' });
      expect(line).not.toContain('while down'); // the message itself never reaches the log
    } finally {
      await down.close();
    }
  }, 20_000);

  it('finding 3: wrong master password — the action succeeds and the log names the login stage', async () => {
    const wrong = await startGate(dovecot, { notify: { enabled: true }, imap: { upstream: { auth: { password: 'not-the-master-pw' } } } });
    try {
      const started = Date.now();
      await wrong.server.core.manager.createPasscode(BOB, { name: 'bad master', scopes: ['imap'] }, 'cli');
      expect(Date.now() - started).toBeLessThan(1_000); // the action never waits for the delivery
      await waitForLog(wrong, /security notice not delivered/, 15_000);
      const line = wrong
        .logs()
        .split('\n')
        .find((l) => l.includes('security notice not delivered'))!;
      expect(JSON.parse(line)).toMatchObject({ level: 40, account: BOB, stage: 'login' });
      expect(line).not.toContain('not-the-master-pw');
    } finally {
      await wrong.close();
    }
  }, 30_000);
});
