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
