/**
 * SMTP spliced after AUTH, against a real Postfix: what the client gets after the 235 is
 * Postfix's own, byte for byte — compared with the same transaction sent to Postfix directly —
 * and extensions mailgate never parses (BDAT/CHUNKING, PIPELINING) just work. A message of two
 * million "." lines costs what a normal message of its size does: nobody re-stuffs it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

const ALICE = 'alice@example.com';
const BOB = { user: 'bob@example.com', pass: 'bob-main-pw' };

describeInterop('SMTP spliced after AUTH (Postfix)', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  let code: string;

  const plain = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
  /** Reads `n` complete replies (multi-line ones count once). */
  const replies = async (raw: RawClient, n: number): Promise<string[]> => {
    const out: string[] = [];
    while (out.length < n) out.push((await raw.until(/^\d{3} /, 30_000)).join('\n'));
    return out;
  };
  const throughGate = async (from: string): Promise<RawClient> => {
    const raw = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca, localAddress: from });
    await replies(raw, 1);
    raw.send('EHLO splice.test\r\n');
    await replies(raw, 1);
    return raw;
  };
  /** Postfix directly, logged in as alice the way mailgate does it (XCLIENT from an authorized host). */
  const direct = async (from: string): Promise<RawClient> => {
    const raw = await RawClient.connect(postfix.submissionPort);
    await replies(raw, 1);
    raw.send('EHLO splice.test\r\n');
    await replies(raw, 1);
    raw.send(`XCLIENT LOGIN=${ALICE} ADDR=${from}\r\n`);
    expect((await replies(raw, 1))[0]).toMatch(/^220 /);
    raw.send('EHLO splice.test\r\n');
    await replies(raw, 1);
    return raw;
  };
  const fetchBySubject = async (subject: string): Promise<Buffer> => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca), servername: 'localhost' },
      auth: { user: BOB.user, pass: BOB.pass },
      logger: false,
    });
    c.on('error', () => {});
    await c.connect();
    try {
      for (const deadline = Date.now() + 20_000; ; ) {
        await c.mailboxOpen('INBOX');
        const uids = await c.search({ subject }, { uid: true });
        const m = uids && uids.length ? await c.fetchOne(String(uids.at(-1)), { source: true }, { uid: true }) : false;
        if (m && m.source) return m.source;
        if (Date.now() > deadline) throw new Error(`no message ${subject}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await c.logout().catch(() => c.close());
    }
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, {}, postfix);
    code = (await gate.server.core.manager.createPasscode(ALICE, { name: 'splice', scopes: ['smtp'] })).formatted;
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('pipelined behind AUTH: MAIL, a refused and an accepted RCPT, DATA — every reply is what Postfix says directly', async () => {
    const transaction = (subject: string) =>
      [`MAIL FROM:<${ALICE}>`, 'RCPT TO:<nobody@example.com>', `RCPT TO:<${BOB.user}>`, 'DATA'].join('\r\n') + '\r\n';
    const body = (subject: string) => `From: ${ALICE}\r\nTo: ${BOB.user}\r\nSubject: ${subject}\r\n\r\nhello\r\n.\r\n`;
    const viaGate = await throughGate('127.0.0.21');
    viaGate.send(`AUTH PLAIN ${plain(ALICE, code)}\r\n${transaction('pipelined g1')}`); // one write: AUTH and the whole envelope
    const g = await replies(viaGate, 5);
    viaGate.send(body('pipelined g1'));
    g.push(...(await replies(viaGate, 1)));
    viaGate.send('QUIT\r\n');
    g.push(...(await replies(viaGate, 1)));
    const d0 = await direct('127.0.0.22');
    d0.send(transaction('pipelined d1'));
    const d = await replies(d0, 4);
    d0.send(body('pipelined d1'));
    d.push(...(await replies(d0, 1)));
    d0.send('QUIT\r\n');
    d.push(...(await replies(d0, 1)));
    console.log('[smtp-splice] through mailgate:', JSON.stringify(g));
    expect(g[0]).toBe('235 2.7.0 Authentication successful');
    const queueId = (xs: string[]) => xs.map((l) => l.replace(/queued as \w+/, 'queued as ID'));
    expect(queueId(g.slice(1))).toEqual(queueId(d));
    expect(g[2]).toBe('550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table');
    expect(g[5]).toMatch(/^250 2\.0\.0 Ok: queued as \w+$/);
    expect(g[6]).toBe('221 2.0.0 Bye');
    expect(await viaGate.closedWithin(2_000)).toBe(true);
  });

  it('BDAT (CHUNKING, RFC 3030) through mailgate: chunks with a lone "." line arrive byte-identical', async () => {
    const raw = await throughGate('127.0.0.23');
    raw.send(`AUTH PLAIN ${plain(ALICE, code)}\r\n`);
    expect(await replies(raw, 1)).toEqual(['235 2.7.0 Authentication successful']);
    const part1 = Buffer.from(`From: ${ALICE}\r\nTo: ${BOB.user}\r\nSubject: chunked b1\r\n\r\nfirst chunk\r\n.\r\n`);
    const part2 = Buffer.from('..not stuffed in BDAT\r\nÜmlaut in 8 bit\r\nend\r\n', 'utf8');
    raw.send(`MAIL FROM:<${ALICE}> BODY=8BITMIME\r\nRCPT TO:<${BOB.user}>\r\n`);
    expect((await replies(raw, 2)).map((r) => r.slice(0, 3))).toEqual(['250', '250']);
    raw.send(Buffer.concat([Buffer.from(`BDAT ${part1.length}\r\n`), part1, Buffer.from(`BDAT ${part2.length} LAST\r\n`), part2]));
    const r = await replies(raw, 2);
    expect(r[0]).toMatch(/^250 2\.0\.0 Ok: \d+ bytes/);
    expect(r[1]).toMatch(/^250 2\.0\.0 Ok: \d+ bytes queued as \w+$/);
    raw.close();
    const src = await fetchBySubject('chunked b1');
    // Postfix adds the Message-ID and Date the message lacks to the header: the body is compared.
    const sent = Buffer.concat([Buffer.from('\r\n\r\nfirst chunk\r\n.\r\n'), part2]);
    expect(src.subarray(src.length - sent.length).equals(sent)).toBe(true);
  });

  it('a message of 2 million "." lines goes through at the speed of a normal message of its size', async () => {
    const header = (s: string) => `From: ${ALICE}\r\nTo: ${BOB.user}\r\nSubject: ${s}\r\n\r\n`;
    const dots = Buffer.alloc(2_000_000 * 4, '..\r\n'); // each "." line stuffed on the wire (RFC 5321 §4.5.2)
    const normal = Buffer.alloc(dots.length, `${'x'.repeat(78)}\r\n`);
    const send = async (subject: string, stuffedBody: Buffer): Promise<number> => {
      const raw = await throughGate('127.0.0.24');
      raw.send(`AUTH PLAIN ${plain(ALICE, code)}\r\n`);
      expect(await replies(raw, 1)).toEqual(['235 2.7.0 Authentication successful']);
      raw.send(`MAIL FROM:<${ALICE}>\r\nRCPT TO:<${BOB.user}>\r\nDATA\r\n`);
      expect((await replies(raw, 3)).map((r) => r.slice(0, 3))).toEqual(['250', '250', '354']);
      const t0 = performance.now();
      raw.send(Buffer.concat([Buffer.from(header(subject)), stuffedBody, Buffer.from('.\r\n')]));
      expect((await replies(raw, 1))[0]).toMatch(/^250 2\.0\.0 Ok: queued as /);
      const ms = performance.now() - t0;
      raw.close();
      return ms;
    };
    const times = { normal: [] as number[], dots: [] as number[] };
    for (let i = 0; i < 2; i++) {
      times.normal.push(await send(`normal n${i}`, normal));
      times.dots.push(await send(`dots d${i}`, dots));
    }
    const best = { normal: Math.min(...times.normal), dots: Math.min(...times.dots) };
    console.log(
      `[smtp-splice] 8 MB DATA: normal lines ${times.normal.map(Math.round).join('/')} ms, 2M "." lines ${times.dots.map(Math.round).join('/')} ms`,
    );
    expect(best.dots).toBeLessThan(best.normal * 2 + 200);
  }, 60_000);
});
