/**
 * The POP3 listener on the front skeleton over real loopback sockets (port 0): the per-address
 * pre-login cap answers POP3's own line, and the refusal is logged by front/refusals.ts with
 * proto pop3, as for IMAP and SMTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../../../test/support/raw.js';
import type { Authenticator } from '../../core/authenticate.js';
import { SessionRegistry } from '../../core/sessions.js';
import { createLogger } from '../../runtime/logger.js';
import { startPop3Front, type Pop3Front } from './front.js';

describe('POP3 front listener', () => {
  let front: Pop3Front;
  const logs: string[] = [];
  const open: RawClient[] = [];
  const connect = async (localAddress: string) => {
    const c = await RawClient.connect(front.addresses[0]!.port, { localAddress });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    const log = createLogger({
      level: 'info',
      destination: {
        write: (l: string) => {
          logs.push(l);
          return true;
        },
      } as unknown as NodeJS.WritableStream,
    });
    front = await startPop3Front(
      {
        settings: {
          allowPlaintextAuth: true,
          failureDelayMs: 10,
          failureJitterMs: 0,
          idleTimeoutMs: 5_000,
          maxBadCommands: 3,
          maxLineBytes: 1024,
          maxPreLoginCommands: 20,
        },
        tls: null,
        authenticator: {} as Authenticator,
        sessions: new SessionRegistry(),
        log,
        now: () => 0,
        adapter: {
          protocol: 'pop3',
          upstreamLabel: 'unused:110',
          login: () => Promise.reject(new Error('not in this test')),
          detach: (s) => s.link,
          close() {},
        },
        info: { capabilities: ['CAPA', 'USER'], greetingText: 'Dovecot ready.' },
      },
      [{ host: '127.0.0.1', port: 0, tls: 'none' }],
      { maxPreLoginPerIp: 2, maxConnections: 100 },
    );
  });
  afterAll(async () => {
    for (const c of open) c.close();
    await front.close();
  });

  it('caps pre-login connections per address with -ERR [SYS/TEMP], logged through front/refusals.ts; other addresses and freed slots go on', async () => {
    const held = [await connect('127.0.0.51'), await connect('127.0.0.51')];
    for (const c of held) expect(await c.until(/^\+OK/)).toEqual(['+OK Dovecot ready.']);
    const third = await connect('127.0.0.51');
    expect(await third.until(/^-ERR/)).toEqual(['-ERR [SYS/TEMP] Too many connections from your address.']);
    expect(await third.closedWithin(1_000)).toBe(true);
    const refusal = logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => /too many pre-login connections/.test(String(l.msg)));
    expect(refusal).toMatchObject({ proto: 'pop3', ip: '127.0.0.51', refused: 1, limit: 2 });

    expect(await (await connect('127.0.0.52')).until(/^\+OK/)).toEqual(['+OK Dovecot ready.']);
    // QUIT frees a slot: the cap is on connections still before login.
    held[0]!.send('QUIT\r\n');
    expect(await held[0]!.until(/^\+OK/)).toEqual(['+OK Logging out.']);
    await held[0]!.closedWithin(1_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(await (await connect('127.0.0.51')).until(/^\+OK/)).toEqual(['+OK Dovecot ready.']);
  });
});
