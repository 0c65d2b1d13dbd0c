/**
 * The SMTP front's commands and login flow without sockets or Postfix (go-smtp's layered helpers:
 * session → greeted → EHLO'd → authenticated), over an in-memory duplex, with a fake upstream
 * adapter whose "logged-in upstream" is another duplex the test reads and writes.
 */
import { describe, expect, it } from 'vitest';
import type { Authenticator } from '../../core/authenticate.js';
import { SessionRegistry } from '../../core/sessions.js';
import type { AuthRequest, Decision } from '../../core/types.js';
import type { UpstreamConfig } from '../../config/types.js';
import { silentLogger } from '../../runtime/logger.js';
import { duplexPair, LineTap } from '../../../test/support/duplex.js';
import type { UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import { UpstreamExtensions } from './extensions.js';
import { SmtpSession, type SmtpSettings } from './session.js';

/** Postfix 3.7's EHLO to mailgate (after STARTTLS), as the testbed's answers it. */
const POSTFIX_EHLO = new Map([
  ['PIPELINING', ''],
  ['SIZE', '62914560'],
  ['VRFY', ''],
  ['ETRN', ''],
  ['AUTH', 'PLAIN LOGIN'],
  ['XCLIENT', 'NAME ADDR PROTO HELO LOGIN'],
  ['ENHANCEDSTATUSCODES', ''],
  ['8BITMIME', ''],
  ['DSN', ''],
  ['SMTPUTF8', ''],
  ['CHUNKING', ''],
]);

const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Options {
  decide?: (req: AuthRequest) => Decision | Promise<Decision>;
  upstream?: (creds: UpstreamCredentials) => UpstreamLogin<'up'> | 'splice';
  settings?: Partial<SmtpSettings>;
}

/** A session on an in-memory connection; `tap` reads what the client gets. */
function testSession(o: Options = {}) {
  const { server, client } = duplexPair();
  const up = duplexPair({ ip: '127.0.0.1', port: 10587 });
  const upTap = new LineTap(up.client);
  const creds: UpstreamCredentials[] = [];
  const recorded: boolean[] = [];
  const requests: AuthRequest[] = [];
  const authenticator: Authenticator = {
    async authenticate(req) {
      requests.push(req);
      return (
        o.decide ?? (() => ({ kind: 'accept-passcode', account: 'alice@example.com', passcodeId: 'p1', cached: true, expiresAt: null }))
      )(req);
    },
    setPolicy() {},
    async recordUpstreamResult(_req, ok) {
      recorded.push(ok);
      return 40;
    },
  };
  const adapter: UpstreamAdapter<'up'> = {
    protocol: 'smtp',
    upstreamLabel: 'fake:25',
    async login(c) {
      creds.push(c);
      const r = o.upstream?.(c) ?? 'splice';
      return r === 'splice' ? { kind: 'ok', session: 'up' } : r;
    },
    detach: () => ({ socket: up.server, rest: Buffer.alloc(0) }),
    close() {},
  };
  const extensions = new UpstreamExtensions({} as UpstreamConfig, 'mailgate', silentLogger);
  extensions.learn(POSTFIX_EHLO);
  const sessions = new SessionRegistry();
  const settings: SmtpSettings = {
    upstream: {} as UpstreamConfig,
    hostname: 'mailgate.test',
    allowPlaintextAuth: true,
    failureDelayMs: 30,
    failureJitterMs: 0,
    idleTimeoutMs: 5_000,
    maxBadCommands: 3,
    maxLineBytes: 2048,
    maxPreLoginCommands: 50,
    ...o.settings,
  };
  const session = new SmtpSession(
    server,
    { settings, tls: null, authenticator, sessions, extensions, adapter: () => adapter, log: silentLogger, now: () => 0 },
    false,
  );
  const done = session.run();
  const tap = new LineTap(client);
  const say = async (line: string | Buffer) => {
    client.write(typeof line === 'string' ? `${line}\r\n` : line);
    return tap.until(/^\d{3} /);
  };
  return { client, tap, say, up, upTap, creds, recorded, requests, sessions, done };
}

async function greeted(o?: Options) {
  const t = testSession(o);
  await t.tap.until(/^220 /);
  return t;
}
async function ehlod(o?: Options) {
  const t = await greeted(o);
  await t.say('EHLO client.example');
  return t;
}
async function authenticated(o?: Options) {
  const t = await ehlod(o);
  expect(await t.say(`AUTH PLAIN ${b64('\0Alice\0abcd efgh ijkl mnop')}`)).toEqual(['235 2.7.0 Authentication successful']);
  return t;
}

describe('SMTP front before AUTH', () => {
  it("greets at once and offers the upstream's extensions in its order, never XCLIENT, VRFY or ETRN", async () => {
    const t0 = performance.now();
    const t = testSession({ settings: { allowPlaintextAuth: false } });
    expect(await t.tap.until(/^220 /)).toEqual(['220 mailgate.test ESMTP']);
    expect(performance.now() - t0).toBeLessThan(50); // smtp-server waited 100 ms here
    expect(await t.say('EHLO client.example')).toEqual([
      '250-mailgate.test',
      '250-PIPELINING',
      '250-SIZE 62914560',
      '250-ENHANCEDSTATUSCODES',
      '250-8BITMIME',
      '250-DSN',
      '250-SMTPUTF8',
      '250 CHUNKING',
    ]);
    expect(await t.say('MAIL FROM:<a@example.com>')).toEqual(['530 5.7.0 Authentication required']);
    expect(await t.say('BDAT 10 LAST')).toEqual(['530 5.7.0 Authentication required']);
    expect(await t.say(`AUTH PLAIN ${b64('\0alice\0pw')}`)).toEqual([
      '538 5.7.11 Encryption required for requested authentication mechanism',
    ]);
    expect(t.requests).toEqual([]);
    expect(await t.say('NOOP')).toEqual(['250 2.0.0 Ok']);
    expect(await t.say('RSET')).toEqual(['250 2.0.0 Ok']);
    expect((await t.say('HELP'))[0]).toMatch(/^214 /);
    expect(await t.say('QUIT')).toEqual(['221 2.0.0 Bye']);
    expect(await t.tap.closed()).toBe(true);
  });

  it('with plaintext allowed, EHLO offers AUTH PLAIN LOGIN after SIZE; AUTH before EHLO is a sequence error', async () => {
    const t = await greeted();
    expect(await t.say(`AUTH PLAIN ${b64('\0alice\0pw')}`)).toEqual(['503 5.5.1 Error: send HELO/EHLO first']);
    expect((await t.say('EHLO x')).slice(1, 4)).toEqual(['250-PIPELINING', '250-SIZE 62914560', '250-AUTH PLAIN LOGIN']);
    expect(await t.say('AUTH CRAM-MD5')).toEqual(['504 5.5.4 Unrecognized authentication type']);
  });

  it('hangs up after max_bad_commands invalid commands, and on a line too long counts one', async () => {
    const t = await greeted();
    expect(await t.say(`X${'y'.repeat(3000)}`)).toEqual(['500 5.5.6 Error: line too long']);
    expect(await t.say('EHLO')).toEqual(['501 5.5.4 Syntax: EHLO hostname']);
    t.client.write('XYZZY\r\n');
    expect(await t.tap.until(/^421 /)).toEqual([
      '502 5.5.2 Error: command not recognized',
      '421 4.7.0 Too many errors, closing connection',
    ]);
    expect(await t.tap.closed()).toBe(true);
  });
});

describe('SMTP AUTH and the login flow', () => {
  it("AUTH PLAIN: the core's canonical account logs in upstream; 235; bytes pipelined behind AUTH and every later reply pass through untouched", async () => {
    const t = await ehlod();
    t.client.write(`AUTH PLAIN ${b64('\0Alice\0abcd efgh ijkl mnop')}\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n`);
    expect(await t.tap.until(/^\d{3} /)).toEqual(['235 2.7.0 Authentication successful']);
    expect(t.requests[0]).toMatchObject({
      user: 'Alice',
      secret: 'abcd efgh ijkl mnop',
      protocol: 'smtp',
      clientId: 'client.example',
      remoteIp: '192.0.2.10',
    });
    expect(t.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
    expect(await t.upTap.until(/^RCPT/)).toEqual(['MAIL FROM:<alice@example.com>', 'RCPT TO:<bob@example.com>']);
    t.up.client.write('250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n');
    expect(await t.tap.until(/^250 2\.1\.5/)).toEqual(['250 2.1.0 Ok', '250 2.1.5 Ok']);
    expect(t.sessions.list()).toMatchObject([{ account: 'alice@example.com', passcodeId: 'p1', protocol: 'smtp' }]);
    await t.done; // the pre-login phase is over: its slot is free
  });

  it('AUTH LOGIN without initial response asks for user and password; "*" cancels', async () => {
    const t = await ehlod();
    expect(await t.say('AUTH LOGIN')).toEqual(['334 VXNlcm5hbWU6']);
    expect(await t.say('*')).toEqual(['501 5.7.0 Authentication aborted']);
    expect(await t.say(`AUTH LOGIN ${b64('bob@example.com')}`)).toEqual(['334 UGFzc3dvcmQ6']);
    expect(await t.say(b64('bobs password'))).toEqual(['235 2.7.0 Authentication successful']);
    expect(t.requests[0]).toMatchObject({ user: 'bob@example.com', secret: 'bobs password' });
  });

  it('AUTH PLAIN without initial response gets an empty 334; bad base64 is 501', async () => {
    const t = await ehlod();
    expect(await t.say('AUTH PLAIN')).toEqual(['334 ']);
    expect(await t.say('not base64!')).toEqual(['501 5.5.2 Cannot decode response']);
  });

  it('every failure is 535 5.7.8 at the failure time; a store failure and an unusable upstream are 454 4.7.0 at once', async () => {
    const reject: Decision = { kind: 'reject', account: 'alice@example.com', reason: 'not-a-passcode', delayMs: 60 };
    let t = await ehlod({ decide: () => reject });
    let t0 = performance.now();
    expect(await t.say(`AUTH PLAIN ${b64('\0alice\0main-pw')}`)).toEqual(['535 5.7.8 Authentication failed']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(58);
    expect(t.creds).toEqual([]);

    t = await ehlod({
      decide: () => {
        throw new Error('database is locked');
      },
    });
    t0 = performance.now();
    expect(await t.say(`AUTH PLAIN ${b64('\0alice\0x')}`)).toEqual(['454 4.7.0 Temporary authentication failure, please try again later']);
    expect(performance.now() - t0).toBeLessThan(30);

    t = await ehlod({ upstream: () => ({ kind: 'unavailable', stage: 'connect', detail: 'ECONNREFUSED' }) });
    expect(await t.say(`AUTH PLAIN ${b64('\0alice\0x')}`)).toEqual(['454 4.7.0 Temporary authentication failure, please try again later']);

    // Passthrough refused by the upstream: counted by the guard, answered after its delay (40 ms).
    t = await ehlod({
      decide: () => ({ kind: 'passthrough', account: 'bob@example.com', reason: 'not-enforced' }),
      upstream: () => ({ kind: 'refused', detail: '535 5.7.8 no' }),
    });
    t0 = performance.now();
    expect(await t.say(`AUTH PLAIN ${b64('\0Bob\0wrong')}`)).toEqual(['535 5.7.8 Authentication failed']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(38);
    expect(t.creds).toEqual([{ kind: 'user', account: 'bob@example.com', password: 'wrong' }]);
    expect(t.recorded).toEqual([false]);
  });

  it('an authzid other than the authcid is refused like any failure, after failure_delay, without asking the core', async () => {
    const t = await ehlod();
    const t0 = performance.now();
    expect(await t.say(`AUTH PLAIN ${b64('bob@example.com\0alice@example.com\0abcd efgh ijkl mnop')}`)).toEqual([
      '535 5.7.8 Authentication failed',
    ]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(28);
    expect(t.requests).toEqual([]);
  });
});

describe('SMTP after the splice', () => {
  it('the upstream going away without a goodbye gets the client a 421 4.4.2 and a close', async () => {
    const t = await authenticated();
    t.up.client.write('354 End data with <CR><LF>.<CR><LF>\r\n');
    await t.tap.until(/^354 /);
    t.up.client.destroy();
    expect(await t.tap.until(/^421 /)).toEqual(['421 4.4.2 Connection to the mail server lost, please try again']);
    expect(await t.tap.closed()).toBe(true);
  });

  it("after the upstream's own 221 nothing is added", async () => {
    const t = await authenticated();
    t.up.client.end('221 2.0.0 Bye\r\n');
    expect(await t.tap.until(/^221 /)).toEqual(['221 2.0.0 Bye']);
    expect(await t.tap.closed()).toBe(true);
    expect(t.tap.pending).toBe('');
  });

  it("the passcode's expiry ends the session with 421 4.7.0 saying so", async () => {
    const t = await authenticated();
    expect(t.sessions.closeWhere((x) => x.passcodeId === 'p1', 'passcode expired')).toBe(1);
    expect(await t.tap.until(/^421 /)).toEqual(['421 4.7.0 Session ended: this app passcode has expired']);
    expect(await t.tap.closed()).toBe(true);
  });

  it('revoking the passcode ends the session with 421 4.7.0', async () => {
    const t = await authenticated();
    expect(t.sessions.closeByPasscode('p1', 'passcode revoked')).toBe(1);
    expect(await t.tap.until(/^421 /)).toEqual(['421 4.7.0 Session ended: the credentials were revoked']);
    expect(await t.tap.closed()).toBe(true);
  });
});
