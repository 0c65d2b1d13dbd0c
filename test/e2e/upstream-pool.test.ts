/**
 * The IMAP upstream pool (net/pool.ts) against the real Dovecot, through a loopback relay the
 * test can cut: logins use ready connections (STARTTLS already done) and still forward each
 * client's own address (ID per client: Dovecot logs its rip=); connections the upstream dropped
 * (a restart) are never handed to a client, and one that dies unnoticed is replaced on the spot.
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

const ALICE = 'alice@example.com';

/** A TCP relay to `port`; `cut()` drops every relayed connection, `stall()` makes them die on the next byte from the gate. */
async function relay(port: number) {
  const pairs = new Set<[Socket, Socket]>();
  let accepted = 0;
  const server: Server = createServer((down) => {
    accepted++;
    const up = connect({ host: '127.0.0.1', port });
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    down.pipe(up).pipe(down);
    const end = () => {
      down.destroy();
      up.destroy();
      pairs.delete(pair);
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => accepted,
    cut() {
      for (const [d, u] of pairs) {
        d.destroy();
        u.destroy();
      }
    },
    /** Like an upstream gone away while the gate's side saw nothing yet: the first byte written is answered by a reset. */
    stall() {
      for (const [d, u] of pairs) {
        d.unpipe(u);
        d.once('data', () => {
          d.resetAndDestroy();
          u.destroy();
        });
        d.resume();
      }
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describeInterop('IMAP upstream connection pool', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let r: Awaited<ReturnType<typeof relay>>;
  let passcode = '';

  const login = async (user: string, secret: string, localAddress?: string) => {
    const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress });
    await c.until(/^\* OK/);
    const reply = (await c.cmd('l1', `LOGIN ${user} "${secret}"`)).at(-1);
    c.close();
    return reply;
  };
  const stats = () => gate.server.imapUpstream!.stats;
  const poolFilled = async (n: number) => {
    const end = Date.now() + 5000;
    while (r.accepted() < n && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
    await new Promise((res) => setTimeout(res, 200)); // greeting + STARTTLS done
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    r = await relay(dovecot.imapPort);
    gate = await startGate(dovecot, { imap: { upstream: { port: r.port, pool: { size: 2, max_age: '20s' } } } });
    passcode = (await gate.server.core.manager.createPasscode(ALICE, { name: 'pool', scopes: ['imap'] })).formatted;
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await r?.close();
    await dovecot?.stop();
  });

  it('logins after the first use pooled connections, each with its own client address in Dovecot (rip=)', async () => {
    expect(await login(ALICE, passcode, '127.0.0.4')).toMatch(/^l1 OK/); // starts the pool
    const before = r.accepted();
    await poolFilled(before + 2);
    const s0 = { ...stats() };
    expect(await login(ALICE, passcode, '127.0.0.2')).toMatch(/^l1 OK/);
    expect(await login('bob@example.com', 'bob-main-pw', '127.0.0.3')).toMatch(/^l1 OK/);
    expect(stats().pooled - s0.pooled).toBe(2);
    expect(stats().fresh - s0.fresh).toBe(0);
    await new Promise((res) => setTimeout(res, 300)); // Dovecot writes its log
    expect(dovecot.log()).toMatch(/imap-login: Info: Login: user=<alice@example\.com>.*rip=127\.0\.0\.2/);
    expect(dovecot.log()).toMatch(/imap-login: Info: Login: user=<bob@example\.com>.*rip=127\.0\.0\.3/);
  }, 30_000);

  it('connections the upstream dropped (a restart) are skipped; the next login still works', async () => {
    await poolFilled(r.accepted());
    r.cut();
    await new Promise((res) => setTimeout(res, 100));
    const s0 = { ...stats() };
    expect(await login(ALICE, passcode)).toMatch(/^l1 OK/);
    expect(stats().pooled - s0.pooled).toBe(0); // both pooled ones were seen closed
    expect(stats().fresh - s0.fresh).toBe(1);
  }, 30_000);

  it('a pooled connection that dies only when used is replaced by a new one in the same login', async () => {
    const before = r.accepted();
    await poolFilled(before + 2);
    r.stall();
    const s0 = { ...stats() };
    expect(await login(ALICE, passcode)).toMatch(/^l1 OK/);
    expect(stats().pooled - s0.pooled).toBe(1);
    expect(stats().retried - s0.retried).toBe(1);
  }, 30_000);
});

describeInterop('SMTP upstream connection pool', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  let code = '';

  const reply = async (raw: RawClient, line?: string): Promise<string> => {
    if (line !== undefined) raw.send(`${line}\r\n`);
    return (await raw.until(/^\d{3} /)).at(-1)!;
  };
  /** One message through the gate from `from`: AUTH with the passcode, then a transaction. */
  const send = async (from: string, subject: string) => {
    const raw = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca, localAddress: from });
    await reply(raw);
    await reply(raw, 'EHLO raw.example');
    expect(await reply(raw, `AUTH PLAIN ${Buffer.from(`\0${ALICE}\0${code}`).toString('base64')}`)).toMatch(/^235 /);
    expect(await reply(raw, `MAIL FROM:<${ALICE}>`)).toMatch(/^250 /);
    expect(await reply(raw, 'RCPT TO:<bob@example.com>')).toMatch(/^250 /);
    expect(await reply(raw, 'DATA')).toMatch(/^354 /);
    expect(await reply(raw, `Subject: ${subject}\r\n\r\nbody\r\n.`)).toMatch(/^250 /);
    await reply(raw, 'QUIT');
    raw.close();
  };
  const postfixLogged = async (re: RegExp) => {
    const end = Date.now() + 5000;
    while (!re.test(postfix.log()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return re.test(postfix.log());
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, { smtp: { upstream: { pool: { size: 2, max_age: '20s' } } } }, postfix);
    code = (await gate.server.core.manager.createPasscode(ALICE, { name: 'pool', scopes: ['smtp'] })).formatted;
  }, 40_000);
  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('messages after the first go out on pooled connections, each with its own client address in Postfix (XCLIENT per client)', async () => {
    await send('127.0.0.5', 'pool m1'); // starts the pool
    await new Promise((r) => setTimeout(r, 1000)); // connect, EHLO, STARTTLS, EHLO
    const pool = gate.server.smtp!.pool;
    const s0 = { ...pool.stats };
    await send('127.0.0.6', 'pool m2');
    await send('127.0.0.7', 'pool m3');
    expect(pool.stats.pooled - s0.pooled).toBe(2);
    expect(pool.stats.fresh - s0.fresh).toBe(0);
    expect(await postfixLogged(/client=unknown\[127\.0\.0\.6\], sasl_method=XCLIENT, sasl_username=alice@example\.com/)).toBe(true);
    expect(await postfixLogged(/client=unknown\[127\.0\.0\.7\], sasl_method=XCLIENT, sasl_username=alice@example\.com/)).toBe(true);
  }, 30_000);
});
