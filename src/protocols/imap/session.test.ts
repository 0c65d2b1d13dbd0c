/**
 * The IMAP front's login path without sockets or Dovecot: an in-memory duplex for the client and
 * a fake upstream adapter whose logged-in upstream is another duplex the test reads and writes.
 */
import { describe, expect, it } from 'vitest';
import type { Authenticator } from '../../core/authenticate.js';
import { SessionRegistry } from '../../core/sessions.js';
import type { Decision } from '../../core/types.js';
import type { UpstreamConfig } from '../../config/types.js';
import { silentLogger } from '../../runtime/logger.js';
import { duplexPair, LineTap } from '../../../test/support/duplex.js';
import type { UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import type { ImapLoggedIn } from './adapter.js';
import { ImapSession } from './session.js';
import { UpstreamInfo } from './upstream-info.js';

const OK: ImapLoggedIn = { up: null as never, result: { status: 'OK', text: '[CAPABILITY IMAP4rev1 IDLE MOVE] Logged in', untagged: [] } };

function imapSession(decision: Decision, upstream: UpstreamLogin<ImapLoggedIn> = { kind: 'ok', session: OK }) {
  const { server, client } = duplexPair();
  const up = duplexPair({ ip: '127.0.0.1', port: 10143 });
  const creds: UpstreamCredentials[] = [];
  const authenticator: Authenticator = { authenticate: async () => decision, setPolicy() {}, recordUpstreamResult: async () => 20 };
  const adapter: UpstreamAdapter<ImapLoggedIn> = {
    protocol: 'imap',
    upstreamLabel: 'fake:143',
    async login(c) {
      creds.push(c);
      return upstream;
    },
    detach: () => ({ socket: up.server, rest: Buffer.alloc(0) }),
    close() {},
  };
  const sessions = new SessionRegistry();
  const settings = {
    upstream: {} as UpstreamConfig,
    allowPlaintextAuth: true,
    failureDelayMs: 20,
    failureJitterMs: 0,
    idleTimeoutMs: 5_000,
    maxBadCommands: 5,
    maxLineBytes: 2048,
    maxLiteralBytes: 2048,
    maxPreLoginCommands: 50,
  };
  void new ImapSession(
    server,
    {
      settings,
      tls: null,
      authenticator,
      sessions,
      upstreamInfo: new UpstreamInfo(settings.upstream),
      adapter: () => adapter,
      log: silentLogger,
      now: () => 0,
    },
    false,
  ).run();
  return { client, tap: new LineTap(client), upTap: new LineTap(up.client), up, creds, sessions };
}

const passcode: Decision = { kind: 'accept-passcode', account: 'alice@example.com', passcodeId: 'p1', cached: true, expiresAt: null };

describe('IMAP login on the front skeleton', () => {
  it("LOGIN: the canonical account logs in upstream, its OK goes back under the client's tag, pipelined commands follow through the splice", async () => {
    const t = imapSession(passcode);
    await t.tap.until(/^\* OK/);
    t.client.write('a1 LOGIN Alice "abcd efgh ijkl mnop"\r\na2 SELECT INBOX\r\n');
    expect(await t.tap.until(/^a1 /)).toEqual(['a1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Logged in']);
    expect(t.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
    expect(await t.upTap.until(/^a2 /)).toEqual(['a2 SELECT INBOX']);
    t.up.client.write('* 3 EXISTS\r\na2 OK [READ-WRITE] Select completed.\r\n');
    expect(await t.tap.until(/^a2 /)).toEqual(['* 3 EXISTS', 'a2 OK [READ-WRITE] Select completed.']);
    expect(t.sessions.size).toBe(1);
    t.up.client.destroy(); // the upstream dies: the client is closed, the session unregistered
    expect(await t.tap.closed()).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(t.sessions.size).toBe(0);
  });

  it('answers a failure with AUTHENTICATIONFAILED and an unusable upstream with UNAVAILABLE, and goes on', async () => {
    const t = imapSession({ kind: 'reject', account: 'alice@example.com', reason: 'not-a-passcode', delayMs: 20 });
    await t.tap.until(/^\* OK/);
    t.client.write('a1 LOGIN alice main-pw\r\n');
    expect(await t.tap.until(/^a1 /)).toEqual(['a1 NO [AUTHENTICATIONFAILED] Authentication failed.']);
    const u = imapSession(passcode, { kind: 'unavailable', stage: 'connect', detail: 'ECONNREFUSED' });
    await u.tap.until(/^\* OK/);
    u.client.write('a1 LOGIN alice "abcd efgh ijkl mnop"\r\na2 NOOP\r\n');
    expect(await u.tap.until(/^a2 /)).toEqual([
      'a1 NO [UNAVAILABLE] Service temporarily unavailable, please try again later.',
      'a2 OK NOOP completed.',
    ]);
  });
});
