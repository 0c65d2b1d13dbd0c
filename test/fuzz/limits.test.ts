/** Pre-login limits of the IMAP front, each with its protocol answer. */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw.js';
import { startFuzzTarget, type FuzzTarget } from './imap-target.js';

describe('IMAP pre-login limits', () => {
  let target: FuzzTarget;
  beforeAll(async () => {
    target = await startFuzzTarget({ idleTimeoutMs: 300, maxPreLoginPerIp: 3, maxPreLoginCommands: 6 });
  });
  afterAll(async () => {
    await target.close();
  });

  it('closes a silent connection after the idle timeout with BYE', async () => {
    const c = await RawClient.connect(target.port);
    await c.until(/^\* OK/);
    expect(await c.until(/^\* BYE/, 2000)).toEqual(['* BYE Disconnected for inactivity.']);
    expect(await c.closedWithin(500)).toBe(true);
  });

  it('caps pre-login connections per address', async () => {
    const held = await Promise.all([0, 1, 2].map(() => RawClient.connect(target.port, { localAddress: '127.0.0.20' })));
    for (const h of held) await h.until(/^\* OK/);
    const fourth = await RawClient.connect(target.port, { localAddress: '127.0.0.20' });
    expect(await fourth.until(/^\* BYE/)).toEqual(['* BYE Too many connections from your address.']);
    const other = await RawClient.connect(target.port, { localAddress: '127.0.0.21' });
    await other.until(/^\* OK/); // another address is not affected
    for (const c of [...held, other]) c.close();
  });

  it('ends a session that sends too many commands before login (a NOOP loop)', async () => {
    const c = await RawClient.connect(target.port, { localAddress: '127.0.0.22' });
    await c.until(/^\* OK/);
    for (let i = 1; i <= 6; i++) expect((await c.cmd(`n${i}`, 'NOOP')).at(-1)).toBe(`n${i} OK NOOP completed.`);
    c.send('n7 NOOP\r\n');
    expect(await c.until(/^\* BYE/)).toEqual(['* BYE Too many commands before login.']);
  });

  it('drops a client that speaks HTTP at once', async () => {
    const s = connect({ host: '127.0.0.1', port: target.port, localAddress: '127.0.0.23' });
    s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    let data = '';
    s.on('data', (d) => {
      data += String(d);
    });
    await new Promise((r) => s.on('close', r));
    expect(data.trim().split('\r\n')).toHaveLength(1); // only the greeting
  });
});
