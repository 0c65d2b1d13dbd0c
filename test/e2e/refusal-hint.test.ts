/**
 * Issue 14 part 1 and 2, with real clients through mailgate against real Dovecot and Postfix: a
 * mail app refused on an enforced account is told it needs an app passcode (Python's imaplib,
 * imapflow, curl over SMTP, POP3 transcripts), a passthrough account's wrong password and a blocked
 * source are not; with the hint off every failure is the old line; and a revoked passcode's live
 * IMAP session gets `* BYE [ALERT]` before the close.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { pop3Section, startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

const run = promisify(execFile);
const URL = 'https://mail.example.com/2fa';
const HINT = `This account needs an app passcode: ${URL}`;
const ALICE = { user: 'alice@example.com', password: 'alice-main-pw' };
const GHOST = 'ghost@example.net'; // no such account, in an enforced domain
const BLOCK_AFTER = 12;
const BOB = { user: 'bob@example.com', password: 'bob-main-pw' }; // passthrough

describeInterop('refused mail apps are told why', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  let plain: Gate; // refusal_hint: false
  let noUrl: Gate; // hint on, no portal.public_url

  const overrides = (hint: boolean, url: boolean) => ({
    ...pop3Section(dovecot),
    policy: { enforce: ['alice@example.com', 'example.net'] },
    auth: { refusal_hint: hint, throttle: { block_after: BLOCK_AFTER, max_delay: '50ms' } },
    ...(url ? { portal: { listen: { host: '127.0.0.1', port: 0 }, public_url: URL } } : {}),
  });

  /** One IMAP LOGIN as a transcript: every line up to the tagged answer. */
  const imapLogin = async (g: Gate, user: string, secret: string, from = '127.0.0.1') => {
    const raw = await RawClient.connect(g.imapsPort, { tls: true, ca: g.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const lines = await raw.cmd('n1', `LOGIN ${user} "${secret}"`);
    raw.close();
    return lines;
  };
  const pop3Login = async (g: Gate, user: string, secret: string) => {
    const raw = await RawClient.connect(g.pop3sPort, { tls: true, ca: g.ca });
    await raw.until(/^\+OK/);
    raw.send(`USER ${user}\r\n`);
    await raw.until(/^\+OK/);
    raw.send(`PASS ${secret}\r\n`);
    const answer = (await raw.until(/^[-+]/)).at(-1)!;
    raw.close();
    return answer;
  };
  /** curl over SMTP submission (implicit TLS); resolves with its exit code and the server's 535 line. */
  const curlSmtp = async (g: Gate, user: string, secret: string) => {
    const r = await run('curl', [
      '-sS',
      '-v',
      '--cacert',
      g.ca,
      '--url',
      `smtps://127.0.0.1:${g.smtpsPort}`,
      '--user',
      `${user}:${secret}`,
      '--mail-from',
      user,
      '--mail-rcpt',
      'bob@example.com',
      '-T',
      '/dev/null',
    ]).catch((e: { code: number; stderr: string }) => e);
    const said = /^< (535 .*?)\r?$/m.exec((r as { stderr: string }).stderr)?.[1];
    return { code: (r as { code?: number }).code ?? 0, said };
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, overrides(true, true), postfix);
    plain = await startGate(dovecot, overrides(false, true), postfix);
    noUrl = await startGate(dovecot, overrides(true, false), postfix);
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await plain?.close();
    await noUrl?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  describe('IMAP', () => {
    it("Python's imaplib sees the hint for the main password and an unknown name in an enforced domain, not for a passthrough account", async () => {
      const script = `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
for user, pw in [('${ALICE.user}', '${ALICE.password}'), ('${GHOST}', 'some-password'), ('${BOB.user}', 'not-bobs')]:
    m = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)
    try:
        m.login(user, pw)
        print(user, 'LOGGED IN')
    except imaplib.IMAP4.error as e:
        print(user, e.args[0].decode() if isinstance(e.args[0], bytes) else e)
`;
      const { stdout } = await run('python3', ['-c', script, String(gate.imapsPort), gate.ca]);
      console.log(`imaplib:\n${stdout}`);
      expect(stdout).toContain(`${ALICE.user} [AUTHENTICATIONFAILED] ${HINT}`);
      expect(stdout).toContain(`${GHOST} [AUTHENTICATIONFAILED] ${HINT}`);
      expect(stdout).toMatch(/^bob@example\.com .*\[AUTHENTICATIONFAILED\] Authentication failed\./m);
      expect(stdout).not.toMatch(/^bob@example\.com .*app passcode/m);
    });

    it('imapflow gets the [ALERT] and the NO text for the main password, and neither for a passthrough account', async () => {
      const attempt = async (user: string, pass: string) => {
        const c = new ImapFlow({
          host: '127.0.0.1',
          port: gate.imapsPort,
          secure: true,
          tls: { ca: readFileSync(gate.ca) },
          auth: { user, pass },
          logger: false,
        });
        const alerts: string[] = [];
        c.on('alert', (a: { message: string }) => alerts.push(a.message));
        c.on('error', () => {});
        const err = (await c.connect().catch((e: unknown) => e)) as { authenticationFailed?: boolean; responseText?: string };
        return { alerts, failed: err?.authenticationFailed === true, text: err?.responseText };
      };
      const alice = await attempt(ALICE.user, ALICE.password);
      expect(alice).toEqual({ alerts: [HINT], failed: true, text: HINT });
      const ghost = await attempt(GHOST, 'whatever-pw');
      expect(ghost.alerts).toEqual([HINT]);
      const bob = await attempt(BOB.user, 'not-bobs');
      expect(bob).toEqual({ alerts: [], failed: true, text: 'Authentication failed.' });
    });

    it('transcript: * OK [ALERT] then the tagged NO; a blocked source gets the plain line; hint off and no URL', async () => {
      expect(await imapLogin(gate, ALICE.user, ALICE.password)).toEqual([`* OK [ALERT] ${HINT}`, `n1 NO [AUTHENTICATIONFAILED] ${HINT}`]);
      // After block_after failures the next try from that source is refused before any decision, plainly.
      const from = '127.0.0.40';
      for (let i = 0; i < BLOCK_AFTER; i++)
        expect((await imapLogin(gate, ALICE.user, `guess-${i}`, from)).at(-1)).toBe(`n1 NO [AUTHENTICATIONFAILED] ${HINT}`);
      expect(await imapLogin(gate, ALICE.user, 'guess-4', from)).toEqual(['n1 NO [AUTHENTICATIONFAILED] Authentication failed.']);
      expect(await imapLogin(plain, ALICE.user, ALICE.password)).toEqual(['n1 NO [AUTHENTICATIONFAILED] Authentication failed.']);
      const page = "This account needs an app passcode from your account's security page";
      expect(await imapLogin(noUrl, ALICE.user, ALICE.password)).toEqual([`* OK [ALERT] ${page}`, `n1 NO [AUTHENTICATIONFAILED] ${page}`]);
    });
  });

  it('SMTP: curl sees the 535 text over real Postfix; a passthrough account and hint off keep the old line', async () => {
    const alice = await curlSmtp(gate, ALICE.user, ALICE.password);
    expect(alice).toEqual({ code: 67, said: `535 5.7.8 Authentication failed: this account needs an app passcode: ${URL}` });
    expect(await curlSmtp(gate, GHOST, 'whatever-pw')).toEqual(alice);
    expect(await curlSmtp(gate, BOB.user, 'not-bobs')).toEqual({ code: 67, said: '535 5.7.8 Authentication failed' });
    expect(await curlSmtp(plain, ALICE.user, ALICE.password)).toEqual({ code: 67, said: '535 5.7.8 Authentication failed' });
  });

  it('POP3: the -ERR [AUTH] text for the main password, the old line for a passthrough account and with the hint off', async () => {
    expect(await pop3Login(gate, ALICE.user, ALICE.password)).toBe(`-ERR [AUTH] ${HINT}`);
    expect(await pop3Login(gate, GHOST, 'whatever-pw')).toBe(`-ERR [AUTH] ${HINT}`);
    expect(await pop3Login(gate, BOB.user, 'not-bobs')).toBe('-ERR [AUTH] Authentication failed.');
    expect(await pop3Login(plain, ALICE.user, ALICE.password)).toBe('-ERR [AUTH] Authentication failed.');
  });

  it('a revoked passcode\'s IDLE session receives "* BYE [ALERT] This app passcode was revoked." before the close', async () => {
    const pc = await gate.server.core.manager.createPasscode(ALICE.user, { name: 'phone', scopes: ['imap'] });
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca) },
      auth: { user: ALICE.user, pass: pc.formatted },
      logger: false,
      // A BYE cannot be written into a DEFLATE stream (compress-watch.ts): the next case covers that.
      disableCompression: true,
    });
    const seen: string[] = [];
    c.on('alert', (a: { message: string; response: string }) => seen.push(`${a.response} ${a.message}`));
    c.on('error', () => {});
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    await c.connect();
    await c.mailboxOpen('INBOX');
    void c.idle().catch(() => {});
    await new Promise((r) => setTimeout(r, 100)); // IDLE is on the wire
    const t0 = Date.now();
    await gate.server.core.manager.revokePasscode(ALICE.user, pc.info.id, 'test');
    await closed;
    await new Promise((r) => setTimeout(r, 200));
    console.log(
      `revoked session closed after ${Date.now() - t0} ms, alerts: ${JSON.stringify(seen)}, bye: ${(c as unknown as { byeReason?: string }).byeReason}`,
    );
    expect(seen).toEqual(['BYE This app passcode was revoked.']);
  });

  it("transcript: a revoked passcode's IDLE session gets the BYE [ALERT] line, then the close", async () => {
    const pc = await gate.server.core.manager.createPasscode(ALICE.user, { name: 'raw', scopes: ['imap'] });
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.41' });
    await raw.until(/^\* OK/);
    expect((await raw.cmd('a1', `LOGIN ${ALICE.user} "${pc.passcode}"`)).at(-1)).toMatch(/^a1 OK/);
    expect((await raw.cmd('a2', 'SELECT INBOX')).at(-1)).toMatch(/^a2 OK/);
    raw.send('a3 IDLE\r\n');
    await raw.until(/^\+ /);
    await gate.server.core.manager.revokePasscode(ALICE.user, pc.info.id, 'test');
    expect(await raw.until(/^\* BYE/)).toEqual(['* BYE [ALERT] This app passcode was revoked.']);
    expect(await raw.closedWithin(2_000)).toBe(true);
  });

  it('transcript: an IDLE session ends with "* BYE [ALERT] This app passcode has expired." at its expiry', async () => {
    const expiresAt = Date.now() + 1_500;
    const pc = await gate.server.core.manager.createPasscode(ALICE.user, { name: 'short', scopes: ['imap'], expiresAt });
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.43' });
    await raw.until(/^\* OK/);
    expect((await raw.cmd('a1', `LOGIN ${ALICE.user} "${pc.passcode}"`)).at(-1)).toMatch(/^a1 OK/);
    expect((await raw.cmd('a2', 'SELECT INBOX')).at(-1)).toMatch(/^a2 OK/);
    raw.send('a3 IDLE\r\n');
    await raw.until(/^\+ /);
    expect(await raw.until(/^\* BYE/, 5_000)).toEqual(['* BYE [ALERT] This app passcode has expired.']);
    console.log(`expired session's BYE ${Date.now() - expiresAt} ms after the expiry`);
    expect(await raw.closedWithin(2_000)).toBe(true);
  });

  it('after COMPRESS DEFLATE the revoked session is just closed: no clear-text line inside the deflate stream', async () => {
    const pc = await gate.server.core.manager.createPasscode(ALICE.user, { name: 'deflate', scopes: ['imap'] });
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.42' });
    await raw.until(/^\* OK/);
    expect((await raw.cmd('a1', `LOGIN ${ALICE.user} "${pc.passcode}"`)).at(-1)).toMatch(/^a1 OK/);
    // Dovecot answers in clear, then both sides deflate (RFC 4978); this client never inflates.
    expect((await raw.cmd('a2', 'COMPRESS DEFLATE')).at(-1)).toMatch(/^a2 OK/);
    await new Promise((r) => setTimeout(r, 100));
    await gate.server.core.manager.revokePasscode(ALICE.user, pc.info.id, 'test');
    await expect(raw.until(/BYE \[ALERT\]/, 3_000)).rejects.toThrow(/connection closed/);
  });
});
