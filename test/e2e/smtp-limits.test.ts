/**
 * Security review finding 6d: the SMTP front caps connections still before AUTH per address, as
 * the IMAP front does (limits.max_prelogin_per_ip). Raw sockets against a gate with Postfix.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

const FROM = '127.0.0.41';

describeInterop('SMTP pre-login limits', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  const open: RawClient[] = [];

  const connect = async (from = FROM) => {
    const c = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca, localAddress: from });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, { limits: { max_prelogin_per_ip: 3 } }, postfix);
  }, 60_000);
  afterAll(async () => {
    for (const c of open) c.close();
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('finding 6d: connections from one address beyond max_prelogin_per_ip before AUTH get 421 and are closed', async () => {
    const held = [await connect(), await connect(), await connect()];
    for (const c of held) expect((await c.until(/^220 /)).at(-1)).toMatch(/^220 /);

    const fourth = await connect();
    expect(await fourth.until(/^421 /)).toEqual(['421 4.7.0 Too many connections from your address']);
    expect(await fourth.closedWithin(2_000)).toBe(true);

    const other = await connect('127.0.0.42'); // another address is not affected
    expect((await other.until(/^220 /)).at(-1)).toMatch(/^220 /);

    // A successful AUTH frees the slot: the cap is on connections *before* login.
    const first = held[0]!;
    first.send('EHLO test\r\n');
    await first.until(/^250 /);
    first.send(`AUTH PLAIN ${Buffer.from('\0bob@example.com\0bob-main-pw').toString('base64')}\r\n`);
    expect((await first.until(/^\d{3} /)).at(-1)).toMatch(/^235 /);
    const afterAuth = await connect();
    expect((await afterAuth.until(/^220 /)).at(-1)).toMatch(/^220 /);

    // So does closing one; and the refused one never held a slot.
    held[1]!.close();
    await new Promise((r) => setTimeout(r, 200));
    const afterClose = await connect();
    expect((await afterClose.until(/^220 /)).at(-1)).toMatch(/^220 /);
    const again = await connect();
    expect(await again.until(/^421 /)).toEqual(['421 4.7.0 Too many connections from your address']);
    expect(gate.logs()).toMatch(/too many pre-login connections from this address/);
  });
});
