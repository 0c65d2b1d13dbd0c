/**
 * The POP3 front without a server: a session on one end of an in-memory duplex, a fake policy
 * core and a fake upstream adapter (front/types.ts) whose logged-in upstream is another duplex
 * the test reads. Transcripts as a client sees them.
 */
import { describe, expect, it } from 'vitest';
import { duplexPair, LineTap } from '../../../test/support/duplex.js';
import type { Authenticator } from '../../core/authenticate.js';
import { SessionRegistry } from '../../core/sessions.js';
import type { AuthRequest, Decision } from '../../core/types.js';
import { createLogger } from '../../runtime/logger.js';
import type { ServerTls } from '../../net/tls.js';
import type { UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import type { Pop3LoggedIn } from './adapter.js';
import { Pop3Session, type Pop3Deps } from './session.js';

const UPSTREAM_CAPA = [
  'CAPA',
  'TOP',
  'UIDL',
  'RESP-CODES',
  'PIPELINING',
  'AUTH-RESP-CODE',
  'STLS',
  'USER',
  'SASL PLAIN LOGIN',
  'IMPLEMENTATION Dovecot',
];
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
  async recordUpstreamResult(_req, ok) {
    recorded.push(ok);
    return ok ? 0 : DELAY;
  },
});

interface Harness {
  client: LineTap;
  upstreamSide: LineTap | null;
  creds: UpstreamCredentials[];
  calls: AuthRequest[];
  recorded: boolean[];
  sessions: SessionRegistry;
  logs: string[];
}

/** STLS is offered when a certificate is configured; no test here negotiates it (test/e2e/pop3.test.ts does). */
const tls = { context: null, options: {} } as unknown as ServerTls;

function start(opts: { result?: UpstreamLogin<Pop3LoggedIn>['kind']; plaintext?: boolean; starttls?: boolean } = {}): Harness {
  const { server, client } = duplexPair({ ip: '127.0.0.9', port: 40_000 });
  const h: Harness = {
    client: new LineTap(client),
    upstreamSide: null,
    creds: [],
    calls: [],
    recorded: [],
    sessions: new SessionRegistry(),
    logs: [],
  };
  const adapter: UpstreamAdapter<Pop3LoggedIn> = {
    protocol: 'pop3',
    upstreamLabel: 'fake:110',
    async login(creds) {
      h.creds.push(creds);
      const result = opts.result ?? 'ok';
      if (result === 'unavailable') return { kind: result, stage: 'connect', detail: 'connection refused' };
      if (result !== 'ok')
        return { kind: result, detail: `-ERR [AUTH] ${result === 'unknown-account' ? 'Authorization' : 'Authentication'} failed` };
      const up = duplexPair({ ip: '127.0.0.1', port: 110 });
      h.upstreamSide = new LineTap(up.client);
      return { kind: 'ok', session: { reply: '+OK Logged in.', link: { socket: up.server, rest: Buffer.alloc(0) } } };
    },
    detach: (s) => s.link,
    close: (s) => {
      s.link.socket.destroy();
    },
  };
  const log = createLogger({
    level: 'debug',
    destination: {
      write: (l: string) => {
        h.logs.push(l);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  const deps: Pop3Deps = {
    settings: {
      allowPlaintextAuth: opts.plaintext ?? true,
      failureDelayMs: DELAY,
      failureJitterMs: 0,
      idleTimeoutMs: 5_000,
      maxBadCommands: 3,
      maxLineBytes: 1024,
      maxPreLoginCommands: 20,
    },
    tls,
    authenticator: core(h.calls, h.recorded),
    sessions: h.sessions,
    adapter,
    info: { capabilities: UPSTREAM_CAPA, greetingText: 'Dovecot ready.' },
    log,
    now: () => 0,
  };
  void new Pop3Session(server, deps, opts.starttls ?? false).run();
  return h;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('POP3 session, pure', () => {
  it('greets with the upstream text and answers CAPA with the filtered upstream list', async () => {
    const { client } = start({ plaintext: false, starttls: true });
    expect(await client.until(/^\+OK/)).toEqual(['+OK Dovecot ready.']);
    client.end.write('CAPA\r\n');
    expect(await client.until(/^\.$/)).toEqual([
      '+OK',
      'CAPA',
      'TOP',
      'UIDL',
      'RESP-CODES',
      'PIPELINING',
      'AUTH-RESP-CODE',
      'STLS',
      'IMPLEMENTATION Dovecot',
      '.',
    ]);
  });

  it('refuses USER, PASS and AUTH before TLS unless plaintext is allowed; AUTH lists no mechanism', async () => {
    const h = start({ plaintext: false, starttls: true });
    await h.client.until(/^\+OK/);
    for (const cmd of ['USER alice@example.com', 'PASS x', `AUTH PLAIN ${b64(`\0alice@example.com\0${PASSCODE}`)}`]) {
      h.client.end.write(`${cmd}\r\n`);
      expect(await h.client.until(/^[-+]/)).toEqual([
        '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
      ]);
    }
    h.client.end.write('AUTH\r\n');
    expect(await h.client.until(/^\.$/)).toEqual(['+OK', '.']);
    expect(h.calls).toHaveLength(0);
  });

  it('USER/PASS with a passcode: the canonical account logs in with the master credentials, pipelined commands reach the upstream, revocation ends it', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.end.write('USER Alice@Example.com\r\n');
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK']);
    h.client.end.write(`PASS ${PASSCODE}\r\nSTAT\r\n`); // pipelined behind the login (RFC 2449 PIPELINING)
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK Logged in.']);
    expect(h.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
    expect(h.calls[0]).toMatchObject({ protocol: 'pop3', remoteIp: '127.0.0.9' });
    expect(await h.upstreamSide!.until(/^STAT$/)).toEqual(['STAT']);
    expect(h.sessions.list({ account: 'alice@example.com' })).toMatchObject([{ protocol: 'pop3', passcodeId: 'pc1' }]);
    expect(h.sessions.closeByPasscode('pc1', 'revoked')).toBe(1);
    expect(await h.client.closed(500)).toBe(true);
    expect(h.logs.join('')).not.toContain(PASSCODE);
  });

  it('AUTH PLAIN with and without initial response, AUTH LOGIN, and "*" cancels', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.end.write('AUTH PLAIN\r\n');
    expect(await h.client.until(/^\+ $/)).toEqual(['+ ']);
    h.client.end.write('*\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Authentication aborted by client.']);
    h.client.end.write('AUTH LOGIN\r\n');
    expect(await h.client.until(/^\+ /)).toEqual([`+ ${b64('Username:')}`]);
    h.client.end.write(`${b64('alice@example.com')}\r\n`);
    expect(await h.client.until(/^\+ /)).toEqual([`+ ${b64('Password:')}`]);
    h.client.end.write('*\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Authentication aborted by client.']);
    h.client.end.write(`AUTH PLAIN ${b64(`\0alice@example.com\0${PASSCODE}`)}\r\n`);
    expect(await h.client.until(/^[-+]/)).toEqual(['+OK Logged in.']);
    expect(h.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
  });

  it('every failure is one answer, paced: main password, refused passthrough, unknown account, authzid ≠ authcid', async () => {
    for (const [result, user, secret, plainAuthzid] of [
      ['ok', 'alice@example.com', 'main-password', ''],
      ['refused', 'bob@example.com', 'wrong', ''],
      ['unknown-account', 'alice@example.com', PASSCODE, ''],
      ['ok', 'alice@example.com', PASSCODE, 'bob@example.com'],
    ] as const) {
      const h = start({ result });
      await h.client.until(/^\+OK/);
      const t0 = Date.now();
      h.client.end.write(`AUTH PLAIN ${b64(`${plainAuthzid}\0${user}\0${secret}`)}\r\n`);
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
      h.client.end.write(`USER alice@example.com\r\nPASS ${PASSCODE}\r\n`);
      await h.client.until(/^\+OK$/);
      expect((await h.client.until(/^-ERR/))[0]).toMatch(/^-ERR \[SYS\/TEMP\] /);
      expect(h.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
    }
  });

  it('NOOP and APOP before login are errors as on Dovecot, PASS without USER too; the bad-command budget hangs up', async () => {
    const h = start();
    await h.client.until(/^\+OK/);
    h.client.end.write('PASS secret\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR No username given.']);
    h.client.end.write('NOOP\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR Unknown command.']);
    h.client.end.write('APOP alice 0123456789abcdef\r\n');
    expect(await h.client.until(/^-ERR/)).toEqual(['-ERR APOP not enabled.']);
    h.client.end.write('STAT\r\n');
    expect(await h.client.until(/^-ERR Too many/)).toEqual(['-ERR Unknown command.', '-ERR Too many invalid commands.']);
    expect(await h.client.closed(1_000)).toBe(true);
  });

  it('QUIT says goodbye and closes; an over-long line is refused and closes', async () => {
    const q = start();
    await q.client.until(/^\+OK/);
    q.client.end.write('QUIT\r\n');
    expect(await q.client.until(/^\+OK/)).toEqual(['+OK Logging out.']);
    expect(await q.client.closed(1_000)).toBe(true);
    const l = start();
    await l.client.until(/^\+OK/);
    l.client.end.write(`USER ${'x'.repeat(2_000)}\r\n`);
    expect(await l.client.until(/^-ERR/)).toEqual(['-ERR Input line too long.']);
    expect(await l.client.closed(1_000)).toBe(true);
  });
});
