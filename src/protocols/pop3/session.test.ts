/**
 * The POP3 front without a server: a session on one end of an in-memory socket pair, a fake
 * policy core and a fake upstream adapter. Transcripts as a client sees them.
 */
import { describe, expect, it } from 'vitest';
import { LineTap, socketPair } from '../../../test/support/socket-pair.js';
import type { Authenticator } from '../../core/authenticate.js';
import { SessionRegistry } from '../../core/sessions.js';
import type { AuthRequest, Decision } from '../../core/types.js';
import { createLogger } from '../../net/logger.js';
import type { ServerTls } from '../../net/tls.js';
import { Pop3Session, type Pop3Deps } from './session.js';
import type { LoginCredentials, Pop3UpstreamPort, UpstreamLogin } from './upstream.js';

const UPSTREAM_CAPA = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'STLS', 'USER', 'SASL PLAIN LOGIN', 'IMPLEMENTATION Dovecot'];
const PASSCODE = 'abcdefghijklmnop';
const DELAY = 120;

/** Enforced alice: a passcode is accepted, anything else refused; bob is not enforced. */
const core = (calls: AuthRequest[], recorded: boolean[]): Authenticator => ({
  async authenticate(req): Promise<Decision> {
    calls.push(req);
    const account = req.user.toLowerCase();
    if (account.startsWith('bob')) return { kind: 'passthrough', account, reason: 'not-enforced' };
    if (req.secret === PASSCODE) return { kind: 'accept-passcode', account, passcodeId: 'pc1', cached: false, expiresAt: null };
    return { kind: 'reject', account, reason: 'not-a-passcode', delayMs: DELAY };
  },
  setPolicy() {},
  recordUpstreamResult(_req, ok) { recorded.push(ok); return ok ? 0 : DELAY; },
});

interface Harness { client: LineTap; upstreamSide: LineTap | null; creds: LoginCredentials[]; calls: AuthRequest[]; recorded: boolean[]; sessions: SessionRegistry; logs: string[] }

/** STLS is offered when a certificate is configured; no test here negotiates it (test/e2e/pop3.test.ts does). */
const tls = { context: null, options: {} } as unknown as ServerTls;

function start(opts: { result?: UpstreamLogin['result']; plaintext?: boolean; starttls?: boolean } = {}): Harness {
  const [server, client] = socketPair();
  const h: Harness = { client: new LineTap(client), upstreamSide: null, creds: [], calls: [], recorded: [], sessions: new SessionRegistry(), logs: [] };
  const upstream: Pop3UpstreamPort = {
    async login(creds) {
      h.creds.push(creds);
      const result = opts.result ?? 'ok';
      if (result !== 'ok') return { result, detail: `-ERR [AUTH] ${result === 'unknown-account' ? 'Authorization' : 'Authentication'} failed` };
      const [ours, theirs] = socketPair('127.0.0.1');
      h.upstreamSide = new LineTap(theirs);
      return { result: 'ok', reply: '+OK Logged in.', link: { socket: ours, rest: Buffer.alloc(0) } };
    },
  };
  const log = createLogger({ level: 'debug', destination: { write: (l: string) => { h.logs.push(l); return true; } } as unknown as NodeJS.WritableStream });
  const deps: Pop3Deps = {
    settings: { allowPlaintextAuth: opts.plaintext ?? true, failureDelayMs: DELAY, failureJitterMs: 0, idleTimeoutMs: 5_000, maxBadCommands: 3, maxLineBytes: 1024, maxPreLoginCommands: 20 },
    tls, authenticator: core(h.calls, h.recorded), sessions: h.sessions, upstream, info: { capabilities: UPSTREAM_CAPA, greetingText: 'Dovecot ready.' }, log, now: () => 0,
  };
  void new Pop3Session(server, deps, opts.starttls ?? false).run();
  return h;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('POP3 session, pure', () => {
  it('greets with the upstream text and answers CAPA with the filtered upstream list', async () => {
    const { client } = start({ plaintext: false, starttls: true });
    expect(await client.until(/^\+OK/)).toEqual(['+OK Dovecot ready.']);
    client.send('CAPA\r\n');
    expect(await client.until(/^\.$/)).toEqual(['+OK', 'CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'STLS', 'IMPLEMENTATION Dovecot', '.']);
  });

  it('refuses USER, PASS and AUTH before TLS unless plaintext is allowed; AUTH lists no mechanism', async () => {
    const h = start({ plaintext: false, starttls: true });
    await h.client.until(/^\+OK/);
    for (const cmd of ['USER alice@example.com', 'PASS x', `AUTH PLAIN ${b64(`\0alice@example.com\0${PASSCODE}`)}`]) {
      h.client.send(`${cmd}\r\n`);
      expect(await h.client.until(/^[-+]/)).toEqual(['-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.']);
    }
    h.client.send('AUTH\r\n');
    expect(await h.client.until(/^\.$/)).toEqual(['+OK', '.']);
    expect(h.calls).toHaveLength(0);
  });

  it('USER/PASS with a passcode: the canonical account logs in with the master credentials, pipelined commands reach the upstream, revocation ends it', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.send('USER Alice@Example.com\r\n');
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK']);
    h.client.send(`PASS ${PASSCODE}\r\nSTAT\r\n`); // pipelined behind the login (RFC 2449 PIPELINING)
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK Logged in.']);
    expect(h.creds).toEqual([{ kind: 'master', user: 'alice@example.com' }]);
    expect(h.calls[0]).toMatchObject({ protocol: 'pop3', remoteIp: '127.0.0.9' });
    expect(await h.upstreamSide!.until(/^STAT$/)).toEqual(['STAT']);
    expect(h.sessions.list({ account: 'alice@example.com' })).toMatchObject([{ protocol: 'pop3', passcodeId: 'pc1' }]);
    expect(h.sessions.closeByPasscode('pc1', 'revoked')).toBe(1);
    expect(await h.client.closedWithin(500)).toBe(true);
    expect(h.logs.join('')).not.toContain(PASSCODE);
  });

  it('AUTH PLAIN with and without initial response, AUTH LOGIN, and "*" cancels', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.send('AUTH PLAIN\r\n');
    expect(await h.client.until(/^\+ $/)).toEqual(['+ ']);
    h.client.send('*\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Authentication aborted by client.']);
    h.client.send('AUTH LOGIN\r\n');
    expect(await h.client.until(/^\+ /)).toEqual([`+ ${b64('Username:')}`]);
    h.client.send(`${b64('alice@example.com')}\r\n`);
    expect(await h.client.until(/^\+ /)).toEqual([`+ ${b64('Password:')}`]);
    h.client.send('*\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Authentication aborted by client.']);
    h.client.send(`AUTH PLAIN ${b64(`\0alice@example.com\0${PASSCODE}`)}\r\n`);
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK Logged in.']);
    expect(h.creds).toEqual([{ kind: 'master', user: 'alice@example.com' }]);
  });

  it('every failure is one answer, paced: main password, refused passthrough, unknown account, authzid ≠ authcid', async () => {
    for (const [result, user, secret, plainAuthzid] of [['ok', 'alice@example.com', 'main-password', ''], ['refused', 'bob@example.com', 'wrong', ''],
      ['unknown-account', 'alice@example.com', PASSCODE, ''], ['ok', 'alice@example.com', PASSCODE, 'bob@example.com']] as const) {
      const h = start({ result });
      await h.client.until(/^\+OK/);
      const t0 = Date.now();
      h.client.send(`AUTH PLAIN ${b64(`${plainAuthzid}\0${user}\0${secret}`)}\r\n`);
      expect(await h.client.until(/^[-+]/)).toEqual(['-ERR [AUTH] Authentication failed.']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(DELAY - 5);
      if (result === 'refused') expect(h.recorded).toEqual([false]);
      if (plainAuthzid) expect(h.calls).toHaveLength(0);
    }
  });

  it('an unreachable upstream or a refused master login is [SYS/TEMP], at once', async () => {
    for (const result of ['unavailable', 'refused'] as const) {
      const h = start({ result });
      await h.client.until(/^\+OK/);
      h.client.send(`USER alice@example.com\r\nPASS ${PASSCODE}\r\n`);
      await h.client.until(/^\+OK$/);
      expect((await h.client.until(/^-ERR/))[0]).toMatch(/^-ERR \[SYS\/TEMP\] /);
      expect(h.creds).toEqual([{ kind: 'master', user: 'alice@example.com' }]);
    }
  });

  it('NOOP and APOP before login are errors as on Dovecot, PASS without USER too; the bad-command budget hangs up', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.send('PASS secret\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR No username given.']);
    h.client.send('NOOP\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Unknown command.']);
    h.client.send('APOP alice 0123456789abcdef\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR APOP not enabled.']);
    h.client.send('STAT\r\n');
    expect(await h.client.until(/^-ERR Too many/)).toEqual(['-ERR Unknown command.', '-ERR Too many invalid commands.']);
    expect(await h.client.closedWithin(1_000)).toBe(true);
  });

  it('QUIT says goodbye and closes; an over-long line is refused and closes', async () => {
    const q = start();
    await q.client.until(/^\+OK/);
    q.client.send('QUIT\r\n');
    expect(await q.client.until(/^\+OK/)).toEqual(['+OK Logging out.']);
    expect(await q.client.closedWithin(1_000)).toBe(true);
    const l = start();
    await l.client.until(/^\+OK/);
    l.client.send(`USER ${'x'.repeat(2_000)}\r\n`);
    expect(await l.client.until(/^-ERR/)).toEqual(['-ERR Input line too long.']);
    expect(await l.client.closedWithin(1_000)).toBe(true);
  });
});
