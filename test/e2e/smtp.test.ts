/**
 * SMTP submission through mailgate against a real Postfix (delivering over LMTP into the test
 * Dovecot), with nodemailer and raw transcripts as clients; messages are read back through
 * mailgate's IMAP. Policy in the gate: alice@example.com is enforced, bob@example.com is not.
 * Test clients connect from distinct loopback addresses so Postfix's log shows the forwarded one.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';
import { freePort } from '../../src/demo/ports.js';

const ALICE = 'alice@example.com';
const BOB = { user: 'bob@example.com', pass: 'bob-main-pw' };

describeInterop('SMTP submission through mailgate to Postfix', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  let smtpCode: string; // alice, scope smtp
  let imapCode: string; // alice, scope imap

  const mailer = (user: string, pass: string, o: { implicit?: boolean; from?: string } = {}) =>
    createTransport({
      host: '127.0.0.1',
      port: o.implicit ? gate.smtpsPort : gate.smtpPort,
      secure: o.implicit === true,
      requireTLS: !o.implicit,
      tls: { ca: readFileSync(gate.ca), servername: 'localhost' },
      auth: { user, pass },
      localAddress: o.from,
      logger: false,
    });
  const sendFails = async (user: string, pass: string, from?: string): Promise<{ code?: number; response?: string }> => {
    try {
      await mailer(user, pass, { from }).sendMail({ from: user, to: BOB.user, subject: 'x', text: 'x' });
      return {};
    } catch (e) {
      const x = e as { responseCode?: number; response?: string };
      return { code: x.responseCode, response: x.response };
    }
  };
  /** Polls the mailbox (through mailgate's IMAP) for a message whose subject contains `marker`. */
  const fetchBySubject = async (
    user: string,
    pass: string,
    marker: string,
    what: { source?: boolean; wait?: number } = { source: true },
  ) => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca), servername: 'localhost' },
      auth: { user, pass },
      logger: false,
    });
    c.on('error', () => {});
    await c.connect();
    try {
      const deadline = Date.now() + (what.wait ?? 20_000);
      for (;;) {
        await c.mailboxOpen('INBOX');
        const uids = await c.search({ subject: marker }, { uid: true });
        if (uids && uids.length > 0) {
          const m = await c.fetchOne(String(uids.at(-1)), { source: what.source, size: true }, { uid: true });
          if (!m) throw new Error('message vanished');
          return m;
        }
        if (Date.now() > deadline) throw new Error(`no message with subject ${marker} for ${user}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await c.logout().catch(() => c.close());
    }
  };
  const reply = async (raw: RawClient, line?: string | Buffer): Promise<string[]> => {
    if (line !== undefined) raw.send(typeof line === 'string' ? `${line}\r\n` : line);
    return raw.until(/^\d{3} /);
  };
  /** Postfix writes its log through postlogd, a moment after the fact: polls for a line. */
  const expectPostfixLogged = async (re: RegExp): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!re.test(postfix.log()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(
      re.test(postfix.log()),
      `no line matching ${re} in the Postfix log; its tail:\n${postfix.log().split('\n').slice(-8).join('\n')}`,
    ).toBe(true);
  };
  const plain = (u: string, p: string) => Buffer.from(`\0${u}\0${p}`).toString('base64');
  const loggedInRaw = async (from: string): Promise<RawClient> => {
    const raw = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca, localAddress: from });
    await reply(raw);
    await reply(raw, 'EHLO raw.example');
    expect((await reply(raw, `AUTH PLAIN ${plain(ALICE, smtpCode)}`)).at(-1)).toMatch(/^235 /);
    return raw;
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, {}, postfix);
    smtpCode = (await gate.server.core.manager.createPasscode(ALICE, { name: 'mail app', scopes: ['smtp'] })).formatted;
    imapCode = (await gate.server.core.manager.createPasscode(ALICE, { name: 'reader', scopes: ['imap'] })).formatted;
  }, 40_000);

  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('sends with a passcode over STARTTLS; Postfix logs XCLIENT login and the real client address', async () => {
    const info = await mailer(ALICE, smtpCode, { from: '127.0.0.2' }).sendMail({
      from: ALICE,
      to: BOB.user,
      subject: 'via starttls m1',
      text: 'hello bob',
    });
    expect(info.accepted).toEqual([BOB.user]);
    expect(info.response).toMatch(/^250 2\.0\.0 Ok: queued as \w+/);
    const m = await fetchBySubject(BOB.user, BOB.pass, 'via starttls m1');
    expect(m.source?.toString()).toContain('hello bob');
    await expectPostfixLogged(/client=unknown\[127\.0\.0\.2\], sasl_method=XCLIENT, sasl_username=alice@example\.com/);
  });

  it('sends with a passcode over implicit TLS; read back through IMAP with an imap passcode', async () => {
    await mailer(ALICE, smtpCode, { implicit: true }).sendMail({ from: ALICE, to: ALICE, subject: 'via smtps m2', text: 'note to self' });
    const m = await fetchBySubject(ALICE, imapCode, 'via smtps m2');
    expect(m.source?.toString()).toContain('note to self');
  });

  it('refuses the main password on an enforced account, a wrong-scope passcode, and a wrong password on a passthrough account', async () => {
    expect(await sendFails(ALICE, 'alice-main-pw')).toEqual({ code: 535, response: '535 5.7.8 Authentication failed' });
    expect(await sendFails(ALICE, imapCode)).toEqual({ code: 535, response: '535 5.7.8 Authentication failed' });
    expect(await sendFails(BOB.user, 'not-bobs-password', '127.0.0.9')).toEqual({ code: 535, response: '535 5.7.8 Authentication failed' });
  });

  it('passes a non-enforced account through with its own password (XCLIENT ADDR first)', async () => {
    await mailer(BOB.user, BOB.pass, { from: '127.0.0.3' }).sendMail({
      from: BOB.user,
      to: ALICE,
      subject: 'from bob m3',
      text: 'hi alice',
    });
    await fetchBySubject(ALICE, imapCode, 'from bob m3');
    await expectPostfixLogged(/client=unknown\[127\.0\.0\.3\], sasl_method=PLAIN, sasl_username=bob@example\.com/);
  });

  it('passes a per-recipient refusal through verbatim while the other recipient gets the message', async () => {
    const info = await mailer(ALICE, smtpCode).sendMail({
      from: ALICE,
      to: ['nobody@example.com', BOB.user],
      subject: 'partial m4',
      text: 'x',
    });
    expect(info.accepted).toEqual([BOB.user]);
    expect(info.rejected).toEqual(['nobody@example.com']);
    expect(info.rejectedErrors?.[0]?.response).toBe(
      '550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
    );
    await fetchBySubject(BOB.user, BOB.pass, 'partial m4');
  });

  it('advertises what the upstream supports, and no AUTH before STARTTLS', async () => {
    const raw = await RawClient.connect(gate.smtpPort);
    expect((await reply(raw))[0]).toMatch(/^220 mailgate ESMTP/);
    const clear = await reply(raw, 'EHLO raw.example');
    expect(clear.join('\n')).not.toMatch(/AUTH/);
    expect(clear).toContain('250-STARTTLS');
    expect((await reply(raw, `AUTH PLAIN ${plain(ALICE, smtpCode)}`)).at(-1)).toMatch(/^5\d\d /);
    expect((await reply(raw, `MAIL FROM:<${ALICE}>`)).at(-1)).toBe('530 5.7.0 Authentication required');
    expect((await reply(raw, 'STARTTLS')).at(-1)).toMatch(/^220 /);
    await raw.starttls(gate.ca);
    const ext = (await reply(raw, 'EHLO raw.example')).map((l) => l.slice(4));
    // Postfix's own list (CHUNKING included), without its VRFY, ETRN and the XCLIENT it offers mailgate.
    expect(ext.slice(1).sort()).toEqual([
      '8BITMIME',
      'AUTH PLAIN LOGIN',
      'CHUNKING',
      'DSN',
      'ENHANCEDSTATUSCODES',
      'PIPELINING',
      'SIZE 62914560',
      'SMTPUTF8',
    ]);
    raw.close();
  });

  it('relays SMTPUTF8 and 8BITMIME byte-identical, dot-stuffing intact, over several transactions with RSET', async () => {
    const raw = await loggedInRaw('127.0.0.4');
    const message = (subject: string, headerText: string) =>
      Buffer.from(
        [
          `From: ${ALICE}`,
          `To: ${BOB.user}`,
          `Subject: ${subject}${headerText}`,
          'Date: Thu, 27 Nov 2025 10:00:00 +0000',
          `Message-ID: <${subject.replace(/\W/g, '')}@example.com>`,
          'MIME-Version: 1.0',
          'Content-Type: text/plain; charset=utf-8',
          'Content-Transfer-Encoding: 8bit',
          '',
          'Ünïcödé body, 8-bit: Straße, 日本語 🚀',
          '.leading dot',
          '..two dots',
          '.',
          ' . not alone',
          'end',
        ].join('\r\n') + '\r\n',
      );
    const transaction = async (mailFrom: string, msg: Buffer) => {
      expect((await reply(raw, `MAIL FROM:${mailFrom}`)).at(-1)).toMatch(/^250 /);
      expect((await reply(raw, `RCPT TO:<${BOB.user}> NOTIFY=FAILURE ORCPT=rfc822;${BOB.user}`)).at(-1)).toMatch(/^250 /);
      expect((await reply(raw, 'DATA')).at(-1)).toMatch(/^354 /);
      const stuffed = Buffer.from(msg.toString('latin1').replace(/^\./gm, '..'), 'latin1');
      const done = (await reply(raw, Buffer.concat([stuffed, Buffer.from('.\r\n')]))).at(-1);
      expect(done).toMatch(/^250 2\.0\.0 Ok: queued as \w+/);
      return done!;
    };
    const arrivesIdentical = async (subject: string, msg: Buffer) => {
      const src = (await fetchBySubject(BOB.user, BOB.pass, subject)).source!;
      expect(src.subarray(src.length - msg.length).equals(msg)).toBe(true);
    };
    // A refused recipient, then RSET: the next transaction starts clean upstream.
    expect((await reply(raw, `MAIL FROM:<${ALICE}>`)).at(-1)).toMatch(/^250 /);
    expect((await reply(raw, 'RCPT TO:<nobody@example.com>')).at(-1)).toMatch(/^550 5\.1\.1 /);
    expect((await reply(raw, 'RSET')).at(-1)).toMatch(/^250 /);
    // 8BITMIME: raw UTF-8 in a header and the body.
    const m5 = message('eightbit m5', ' — Grüße 🚀');
    await transaction(`<${ALICE}> BODY=8BITMIME`, m5);
    await arrivesIdentical('eightbit m5', m5);
    // SMTPUTF8 with an ASCII envelope and headers (what the test Dovecot's LMTP, which lacks
    // SMTPUTF8, can take): delivered byte-identical.
    const m6 = message('smtputf8 m6', '');
    await transaction(`<${ALICE}> SMTPUTF8 BODY=8BITMIME`, m6);
    await arrivesIdentical('smtputf8 m6', m6);
    // SMTPUTF8 with a UTF-8 sender: Postfix takes it with the address exactly as sent (Dovecot
    // 2.3 LMTP cannot, so Postfix bounces it later: not read back).
    const queued = await transaction('<jörg@example.org> SMTPUTF8 BODY=8BITMIME', message('utf8 sender m7', ''));
    const id = /queued as (\w+)/.exec(queued)![1]!;
    await expectPostfixLogged(new RegExp(`${id}: from=<jörg@example\\.org>`));
    expect((await reply(raw, 'QUIT')).at(-1)).toMatch(/^221 /);
  });

  it('streams a 50 MB message with bounded memory', async () => {
    const lineCount = (50 * 1024 * 1024) / 100;
    const line = Buffer.from(`${'x'.repeat(98)}\r\n`);
    const dotted = Buffer.from(`.${'y'.repeat(97)}\r\n`);
    async function* message(subject: string, lines: number) {
      yield Buffer.from(`From: ${ALICE}\r\nTo: ${BOB.user}\r\nSubject: ${subject}\r\n\r\n`);
      for (let i = 0; i < lines; i += 100) yield Buffer.concat(Array.from({ length: 100 }, (_, j) => (j === 0 ? dotted : line)));
    }
    const send = (subject: string, lines: number) =>
      mailer(ALICE, smtpCode, { implicit: true }).sendMail({
        envelope: { from: ALICE, to: [BOB.user] },
        raw: Readable.from(message(subject, lines)),
      });
    await send('warm-up', lineCount / 10); // the first big transfer sizes the buffer pools
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const t0 = Date.now();
    try {
      const info = await send('big m8', lineCount);
      expect(info.response).toMatch(/^250 /);
    } finally {
      clearInterval(sampler);
    }
    const ms = Date.now() - t0;
    const growthMb = (peak - before) / 1024 / 1024;
    console.log(`[smtp] 50 MB relayed in ${ms} ms; RSS before ${(before / 1048576).toFixed(0)} MB, peak growth ${growthMb.toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(40);
    const m = await fetchBySubject(BOB.user, BOB.pass, 'big m8', {});
    expect(m.size).toBeGreaterThan(50 * 1024 * 1024);
  }, 60_000);

  it('drops the upstream connection without the final dot when the client disconnects mid-DATA', async () => {
    const raw = await loggedInRaw('127.0.0.5');
    await reply(raw, `MAIL FROM:<${ALICE}>`);
    await reply(raw, `RCPT TO:<${BOB.user}>`);
    expect((await reply(raw, 'DATA')).at(-1)).toMatch(/^354 /);
    raw.send(`From: ${ALICE}\r\nSubject: aborted m9\r\n\r\npartial body\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    raw.close();
    await expectPostfixLogged(/lost connection after DATA .* from unknown\[127\.0\.0\.5\]/);
    await expect(
      fetchBySubject(BOB.user, BOB.pass, 'aborted m9', { wait: 2_000 }).then(
        () => 'delivered',
        () => 'not delivered',
      ),
    ).resolves.toBe('not delivered');
  }, 30_000);

  it('ends a live SMTP session (AUTH LOGIN) when its passcode is revoked', async () => {
    const { formatted, info } = await gate.server.core.manager.createPasscode(ALICE, { name: 'to revoke', scopes: ['smtp'] });
    const raw = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca });
    await reply(raw);
    await reply(raw, 'EHLO raw.example');
    expect((await reply(raw, 'AUTH LOGIN')).at(-1)).toBe('334 VXNlcm5hbWU6');
    expect((await reply(raw, Buffer.from(ALICE).toString('base64'))).at(-1)).toBe('334 UGFzc3dvcmQ6');
    expect((await reply(raw, Buffer.from(formatted).toString('base64'))).at(-1)).toMatch(/^235 /);
    expect((await reply(raw, `MAIL FROM:<${ALICE}>`)).at(-1)).toMatch(/^250 /);
    expect((await gate.server.core.manager.revokePasscode(ALICE, info.id)).sessionsClosed).toBe(1);
    expect((await reply(raw)).at(-1)).toMatch(/^421 4\.7\.0 /);
    expect(await raw.closedWithin(3_000)).toBe(true);
  });

  it('answers 454 when the upstream is unreachable or its certificate does not verify, with one error line for the admin', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ port: await freePort() }, 'connect'],
      [{ ca: dovecot.certs.cert }, 'tls'], // the server's own certificate is no CA: verification fails
    ];
    for (const [upstream, stage] of cases) {
      const down = await startGate(dovecot, { smtp: { upstream } }, postfix);
      try {
        const code = (await down.server.core.manager.createPasscode(ALICE, { name: 'down', scopes: ['smtp'] })).formatted;
        const t = createTransport({
          host: '127.0.0.1',
          port: down.smtpsPort,
          secure: true,
          tls: { ca: readFileSync(down.ca), servername: 'localhost' },
          auth: { user: ALICE, pass: code },
          logger: false,
        });
        const err = await t.sendMail({ from: ALICE, to: BOB.user, subject: 'x', text: 'x' }).then(
          () => null,
          (e: { responseCode?: number; response?: string }) => e,
        );
        expect(err?.responseCode).toBe(454);
        expect(err?.response).toMatch(/^454 4\.7\.0 /);
        const lines = down
          .logs()
          .split('\n')
          .filter((l) => l.includes('SMTP upstream unavailable'));
        expect(lines).toHaveLength(1);
        expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, stage });
      } finally {
        await down.close();
      }
    }
  });

  it('logs in with the master user (sasl-proxy) where configured, forwarding the client address first', async () => {
    const g = await startGate(
      dovecot,
      { smtp: { upstream: { auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password } } } },
      postfix,
    );
    try {
      const code = (await g.server.core.manager.createPasscode(ALICE, { name: 'master', scopes: ['smtp'] })).formatted;
      await createTransport({
        host: '127.0.0.1',
        port: g.smtpsPort,
        secure: true,
        tls: { ca: readFileSync(g.ca), servername: 'localhost' },
        auth: { user: ALICE, pass: code },
        localAddress: '127.0.0.6',
        logger: false,
      }).sendMail({ from: ALICE, to: BOB.user, subject: 'master m10', text: 'x' });
      await expectPostfixLogged(/client=unknown\[127\.0\.0\.6\], sasl_method=PLAIN, sasl_username=alice@example\.com/);
      expect(g.logs()).not.toContain(dovecot.master.password);
    } finally {
      await g.close();
    }
  });

  it('answers 454 when the upstream refuses the login, 421 when it drops the session, also during DATA', async () => {
    let mode: 'refuse' | 'drop' | 'drop-in-data' = 'refuse';
    const fake = createServer((sock) => {
      let ehlos = 0;
      let inData = false;
      sock.on('error', () => {});
      sock.write('220 fake.test ESMTP\r\n');
      sock.on('data', (d) => {
        if (inData) {
          sock.destroy();
          return;
        }
        for (const line of d.toString().split('\r\n').filter(Boolean)) {
          if (/^EHLO/i.test(line)) {
            sock.write('250-fake.test\r\n250-PIPELINING\r\n250-XCLIENT ADDR NAME LOGIN PORT PROTO\r\n250 ENHANCEDSTATUSCODES\r\n');
            if (++ehlos === 2 && mode === 'drop') setTimeout(() => sock.destroy(), 100);
          } else if (/^XCLIENT/i.test(line))
            sock.write(mode === 'refuse' ? '550 5.7.0 Error: insufficient authorization\r\n' : '220 fake.test ESMTP\r\n');
          else if (/^(MAIL|RCPT)/i.test(line)) sock.write('250 2.1.0 Ok\r\n');
          else if (/^DATA/i.test(line)) {
            inData = true;
            sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
          } else if (/^QUIT/i.test(line)) sock.end('221 2.0.0 Bye\r\n');
          else sock.write('502 5.5.2 Error: command not recognized\r\n');
        }
      });
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', () => r()));
    const g = await startGate(dovecot, { smtp: { upstream: { port: (fake.address() as { port: number }).port, tls: 'none' } } }, postfix);
    try {
      const code = (await g.server.core.manager.createPasscode(ALICE, { name: 'fake', scopes: ['smtp'] })).formatted;
      const raw = await RawClient.connect(g.smtpsPort, { tls: true, ca: g.ca });
      await reply(raw);
      await reply(raw, 'EHLO raw.example');
      expect((await reply(raw, `AUTH PLAIN ${plain(ALICE, code)}`)).at(-1)).toMatch(/^454 4\.7\.0 /);
      expect(g.logs()).toMatch(/"stage":"login".*upstream refused XCLIENT: 550 5\.7\.0 Error: insufficient authorization/);
      mode = 'drop';
      expect((await reply(raw, `AUTH PLAIN ${plain(ALICE, code)}`)).at(-1)).toMatch(/^235 /);
      await new Promise((r) => setTimeout(r, 300));
      expect((await reply(raw, `MAIL FROM:<${ALICE}>`)).at(-1)).toMatch(/^421 4\.4\.2 /);
      expect(await raw.closedWithin(3_000)).toBe(true);
      mode = 'drop-in-data';
      const raw2 = await RawClient.connect(g.smtpsPort, { tls: true, ca: g.ca });
      await reply(raw2);
      await reply(raw2, 'EHLO raw.example');
      expect((await reply(raw2, `AUTH PLAIN ${plain(ALICE, code)}`)).at(-1)).toMatch(/^235 /);
      await reply(raw2, `MAIL FROM:<${ALICE}>`);
      await reply(raw2, `RCPT TO:<${BOB.user}>`);
      expect((await reply(raw2, 'DATA')).at(-1)).toMatch(/^354 /);
      raw2.send('Subject: first part\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      // Spliced, mailgate keeps no session of its own to go on with: the client learns at once that
      // the message was not taken (421, RFC 5321 §3.8) and the connection closes.
      expect((await reply(raw2, 'second part\r\n.')).at(-1)).toMatch(/^421 4\.4\.2 /);
      expect(await raw2.closedWithin(3_000)).toBe(true);
      raw2.close();
    } finally {
      await g.close();
      fake.close();
    }
  });

  it('never logs a password or passcode', () => {
    const logs = gate.logs();
    for (const secret of [smtpCode, smtpCode.replace(/ /g, ''), imapCode.replace(/ /g, ''), 'alice-main-pw', BOB.pass, 'not-bobs-password'])
      expect(logs).not.toContain(secret);
  });
});
