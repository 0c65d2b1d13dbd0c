/**
 * The splice with a plain TCP upstream reads into a ring of reused buffers (src/net/reads.ts).
 * Against a real Dovecot over `tls: none`: large messages arrive byte for byte through the ring
 * (many rotations, to TLS and clear clients at once), a client that stops reading holds the
 * session without growing mailgate's memory and then gets everything, and the login dialogue
 * before the splice (which reads copies) still works for IMAP and POP3.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startGate, type Gate } from '../support/gate.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';

const ALICE = 'alice@example.com';

/** A message of about `kb` KB whose body is base64 of random bytes (so corruption cannot hide). */
function bigMessage(kb: number, n: number): string {
  const body = randomBytes(Math.floor((kb * 1024 * 3) / 4))
    .toString('base64')
    .replace(/.{76}/g, '$&\r\n');
  return `From: ring@example.com\r\nSubject: ring ${n}\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${body}\r\n`;
}
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describeInterop('splice through reused read buffers (plain upstream)', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let passcode: string;
  const messages = [bigMessage(3000, 1), bigMessage(700, 2), bigMessage(64, 3)];

  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [{ user: ALICE, password: 'alice-main-pw' }],
      messages: messages.map((raw) => ({ user: ALICE, raw })),
    });
    const plain = { host: '127.0.0.1', tls: 'none', ca: null };
    gate = await startGate(dovecot, { imap: { upstream: { ...plain, port: dovecot.imapPort } } });
    passcode = (await gate.server.core.manager.createPasscode(ALICE, { name: 'ring', scopes: ['imap'] })).formatted;
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  const client = (tls: boolean) => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: tls ? gate.imapsPort : gate.imapPort,
      secure: tls,
      doSTARTTLS: tls ? undefined : true,
      tls: { ca: readFileSync(gate.ca) },
      auth: { user: ALICE, pass: passcode },
      logger: false,
      disableAutoIdle: true,
    });
    c.on('error', () => {});
    return c;
  };

  it('delivers large messages byte for byte to several sessions at once', async () => {
    const fetchAll = async (tls: boolean) => {
      const c = client(tls);
      await c.connect();
      await c.mailboxOpen('INBOX');
      const got: string[] = [];
      for await (const m of c.fetch('1:*', { source: true })) got.push(sha(m.source as Buffer));
      await c.logout();
      return got;
    };
    const want = messages.map((m) => sha(m));
    const results = await Promise.all([fetchAll(true), fetchAll(false), fetchAll(true)]);
    for (const r of results) expect(r).toEqual(want);
    // These sessions went through the ring, not stream.pipe (front/handoff.ts logs which).
    expect(gate.logs()).toMatch(/"reads":"ring".*"msg":"logged in"|"msg":"logged in".*"reads":"ring"/);
  }, 60_000);

  it('a client that stops reading keeps its session: the data waits upstream, then all of it arrives', async () => {
    const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
    await c.until(/^\* OK/);
    c.send(`a LOGIN ${ALICE} "${passcode}"\r\n`);
    await c.until(/^a OK/);
    c.send('b SELECT INBOX\r\n');
    await c.until(/^b OK/);
    const rssBefore = process.memoryUsage().rss;
    c.socket.pause();
    c.send('c FETCH 1:* BODY.PEEK[]\r\n');
    await new Promise((r) => setTimeout(r, 1500));
    // The gate runs in this process: ~3.8 MB of bodies must not have been buffered in it.
    const grown = process.memoryUsage().rss - rssBefore;
    c.socket.resume();
    const lines = await c.until(/^c OK/, 30_000);
    expect(lines.at(-1)).toMatch(/^c OK/);
    expect(lines.filter((l) => /^\* \d+ FETCH/.test(l))).toHaveLength(3);
    expect(grown).toBeLessThan(2 * 1024 * 1024);
    c.close();
  }, 60_000);
});

describeInterop('login dialogue over a plain upstream (reads copied before the splice)', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ user: 'bob@example.com', password: 'bob-main-pw' }] });
    gate = await startGate(dovecot, {
      imap: { upstream: { tls: 'none', port: dovecot.imapPort } },
      pop3: {
        listen: [{ host: '127.0.0.1', port: 0, tls: 'implicit' }],
        upstream: {
          host: '127.0.0.1',
          port: dovecot.pop3Port,
          tls: 'none',
          trusted: true,
          auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password },
        },
      },
      policy: { enforce: [] },
    });
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('passthrough IMAP and POP3 logins work and a wrong password is refused', async () => {
    const imap = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
    await imap.until(/^\* OK/);
    imap.send('a LOGIN bob@example.com bob-main-pw\r\nb LOGOUT\r\n');
    expect((await imap.until(/^b OK/)).join('\n')).toMatch(/^a OK/m);
    imap.close();
    const pop = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca });
    await pop.until(/^\+OK/);
    pop.send('USER bob@example.com\r\nPASS bob-main-pw\r\nSTAT\r\nQUIT\r\n');
    const out = await pop.until(/^\+OK.*(Logging out|bye)/i, 10_000);
    expect(out.filter((l) => l.startsWith('+OK')).length).toBeGreaterThanOrEqual(4);
    pop.close();
    const bad = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
    await bad.until(/^\* OK/);
    bad.send('a LOGIN bob@example.com wrong\r\n');
    expect((await bad.until(/^a (OK|NO)/)).at(-1)).toMatch(/^a NO/);
    bad.close();
  }, 30_000);
});
