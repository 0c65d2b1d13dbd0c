/**
 * Proves the real-component testbed works with real clients: a private Dovecot (IMAP, POP3,
 * LMTP, master users, trusted networks) and a private Postfix (SASL via Dovecot, STARTTLS,
 * implicit TLS, XCLIENT, delivery over LMTP).
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import nodemailer from 'nodemailer';
import { describeInterop } from '../../test/support/interop.js';
import { WireClient } from '../../test/support/wire.js';
import { startDovecot, type DovecotInstance } from './dovecot.js';
import { startPostfix, type PostfixInstance } from './postfix.js';

const ODD_PASSWORD = 'p ä"ss w:rd';
const USERS = [
  { user: 'alice@example.com', password: 'alice-main-pw' },
  { user: 'bob@example.com', password: 'bob-main-pw' },
  { user: 'carol@example.com', password: ODD_PASSWORD },
];
const SEEDED = [
  'From: Dave <dave@example.org>',
  'To: alice@example.com',
  'Subject: Seeded hello',
  'Message-ID: <seed-1@example.org>',
  'Date: Mon, 02 Jan 2023 10:00:00 +0000',
  '',
  'Seeded body.',
  '',
].join('\r\n');

const T = 15_000;

describeInterop('testbed: real Dovecot + Postfix', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let ca: string;

  beforeAll(async () => {
    dovecot = await startDovecot({
      users: USERS,
      messages: [
        { user: 'alice@example.com', raw: SEEDED },
        { user: 'alice@example.com', mailbox: 'Archive/2023', raw: SEEDED.replace('Seeded hello', 'Archived') },
      ],
    });
    postfix = await startPostfix({ dovecot });
    ca = readFileSync(dovecot.certs.caCert, 'utf8');
  }, 20_000);

  afterAll(async () => {
    await postfix?.stop();
    await dovecot?.stop();
  }, 20_000);

  function imapClient(auth: ImapFlowOptions['auth']): ImapFlow {
    return new ImapFlow({
      host: '127.0.0.1',
      port: dovecot.imapPort,
      secure: false,
      tls: { ca: [ca] },
      auth,
      logger: false,
    });
  }

  it(
    'imapflow logs in as alice (STARTTLS) and fetches the seeded message',
    async () => {
      const client = imapClient({ user: 'alice@example.com', pass: 'alice-main-pw' });
      await client.connect();
      try {
        expect(client.secureConnection ?? true).toBeTruthy();
        const box = await client.mailboxOpen('INBOX');
        expect(box.exists).toBe(1);
        const msg = await client.fetchOne('1', { envelope: true, source: true });
        expect(msg && msg.envelope?.subject).toBe('Seeded hello');
        expect(msg && msg.source?.toString('utf8')).toContain('Seeded body.');
        const list = await client.list();
        expect(list.map((m) => m.path)).toContain('Archive.2023');
      } finally {
        await client.logout();
      }
    },
    T,
  );

  it(
    'imapflow master login: AUTHENTICATE PLAIN authzid=alice authcid=mailgate',
    async () => {
      const client = imapClient({
        user: dovecot.master.user,
        pass: dovecot.master.password,
        loginMethod: 'AUTH=PLAIN',
        authzid: 'alice@example.com',
      });
      await client.connect();
      try {
        const box = await client.mailboxOpen('INBOX');
        expect(box.exists).toBe(1);
        const msg = await client.fetchOne('1', { envelope: true });
        expect(msg && msg.envelope?.subject).toBe('Seeded hello');
      } finally {
        await client.logout();
      }
      expect(dovecot.log()).toMatch(/Master user logging in as alice@example\.com/);
    },
    T,
  );

  it(
    'raw LOGIN "alice@example.com*mailgate" masterpw works, and ID x-originating-ip is accepted',
    async () => {
      const c = await WireClient.connect({ port: dovecot.imapPort });
      try {
        expect(await c.readLine()).toMatch(/^\* OK/);
        const id = await c.imap('i', 'ID ("x-originating-ip" "192.0.2.55" "x-originating-port" "4242")');
        expect(id.tagged).toMatch(/^i OK/);
        const login = await c.imap('a', `LOGIN "alice@example.com*${dovecot.master.user}" "${dovecot.master.password}"`);
        expect(login.tagged).toMatch(/^a OK/);
        const sel = await c.imap('b', 'SELECT INBOX');
        expect(sel.untagged).toContain('* 1 EXISTS');
        await c.imap('z', 'LOGOUT');
      } finally {
        c.close();
      }
      // login_trusted_networks: Dovecot believed the forwarded address.
      expect(dovecot.log()).toMatch(/user=<alice@example\.com>, method=PLAIN, rip=192\.0\.2\.55/);
    },
    T,
  );

  it(
    'a password with spaces, a double quote, ":" and UTF-8 works via LOGIN with a literal',
    async () => {
      const c = await WireClient.connect({ port: dovecot.imapsPort, tls: true, ca });
      try {
        expect(await c.readLine()).toMatch(/^\* OK/);
        const pw = Buffer.from(ODD_PASSWORD, 'utf8');
        c.write(`a LOGIN "carol@example.com" {${pw.length}}\r\n`);
        expect(await c.readLine()).toMatch(/^\+/);
        c.write(Buffer.concat([pw, Buffer.from('\r\n')]));
        const res = await c.imapResult('a');
        expect(res.tagged).toMatch(/^a OK/);
        await c.imap('z', 'LOGOUT');
      } finally {
        c.close();
      }
    },
    T,
  );

  it(
    'POP3 login works',
    async () => {
      const c = await WireClient.connect({ port: dovecot.pop3Port });
      try {
        expect(await c.readLine()).toMatch(/^\+OK/);
        c.write('USER alice@example.com\r\n');
        expect(await c.readLine()).toMatch(/^\+OK/);
        c.write('PASS alice-main-pw\r\n');
        expect(await c.readLine()).toMatch(/^\+OK/);
        c.write('STAT\r\n');
        expect(await c.readLine()).toMatch(/^\+OK 1 \d+/);
        c.write('QUIT\r\n');
        expect(await c.readLine()).toMatch(/^\+OK/);
      } finally {
        c.close();
      }
    },
    T,
  );

  it(
    'nodemailer submits as alice (AUTH PLAIN over STARTTLS) and bob reads it over IMAP',
    async () => {
      const marker = `testbed-${randomBytes(6).toString('hex')}`;
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: postfix.submissionPort,
        secure: false,
        requireTLS: true,
        tls: { ca: [ca] },
        auth: { user: 'alice@example.com', pass: 'alice-main-pw', method: 'PLAIN' },
      });
      const info = await transport.sendMail({
        from: 'alice@example.com',
        to: 'bob@example.com',
        subject: marker,
        text: 'Hello Bob, grüße.',
      });
      transport.close();
      expect(info.accepted).toEqual(['bob@example.com']);

      const client = imapClient({ user: 'bob@example.com', pass: 'bob-main-pw' });
      await client.connect();
      try {
        await client.mailboxOpen('INBOX');
        const deadline = Date.now() + 10_000;
        let found: number[] = [];
        while (Date.now() < deadline) {
          await client.noop();
          const r = await client.search({ subject: marker });
          found = r || [];
          if (found.length > 0) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        expect(found.length, `not delivered; postfix log:\n${postfix.log()}`).toBe(1);
      } finally {
        await client.logout();
      }
    },
    T,
  );

  it(
    'the implicit-TLS port works (nodemailer verify with AUTH)',
    async () => {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: postfix.smtpsPort,
        secure: true,
        tls: { ca: [ca] },
        auth: { user: 'bob@example.com', pass: 'bob-main-pw' },
      });
      await expect(transport.verify()).resolves.toBe(true);
      transport.close();
    },
    T,
  );

  it(
    'RCPT to an unknown user gets 550 5.1.1; an unauthenticated RCPT is refused',
    async () => {
      const c = await WireClient.connect({ port: postfix.submissionPort });
      try {
        expect((await c.smtpReply()).code).toBe(220);
        expect((await c.smtp('EHLO client.example')).code).toBe(250);
        expect((await c.smtp('MAIL FROM:<someone@example.org>')).code).toBe(250);
        const unauth = await c.smtp('RCPT TO:<bob@example.com>');
        expect(unauth.code).toBeGreaterThanOrEqual(500);
        expect((await c.smtp('RSET')).code).toBe(250);
        const auth = await c.smtp(`AUTH PLAIN ${Buffer.from('\0alice@example.com\0alice-main-pw').toString('base64')}`);
        expect(auth.code).toBe(235);
        expect((await c.smtp('MAIL FROM:<alice@example.com>')).code).toBe(250);
        const unknown = await c.smtp('RCPT TO:<nobody@example.com>');
        expect(unknown.code).toBe(550);
        expect(unknown.text).toMatch(/^550 5\.1\.1 /);
        expect((await c.smtp('RCPT TO:<bob@example.com>')).code).toBe(250);
        await c.smtp('QUIT');
      } finally {
        c.close();
      }
    },
    T,
  );

  it(
    'XCLIENT LOGIN=alice ADDR=192.0.2.7, then EHLO/MAIL/RCPT/DATA is accepted',
    async () => {
      const c = await WireClient.connect({ port: postfix.submissionPort });
      try {
        expect((await c.smtpReply()).code).toBe(220);
        const ehlo = await c.smtp('EHLO proxy.example');
        expect(ehlo.lines.some((l) => /XCLIENT/.test(l))).toBe(true);
        const x = await c.smtp('XCLIENT LOGIN=alice@example.com ADDR=192.0.2.7');
        expect(x.code).toBe(220);
        expect((await c.smtp('EHLO client.example')).code).toBe(250);
        expect((await c.smtp('MAIL FROM:<alice@example.com>')).code).toBe(250);
        expect((await c.smtp('RCPT TO:<bob@example.com>')).code).toBe(250);
        expect((await c.smtp('DATA')).code).toBe(354);
        c.write('From: alice@example.com\r\nTo: bob@example.com\r\nSubject: via xclient\r\n\r\nhi\r\n.\r\n');
        const queued = await c.smtpReply();
        expect(queued.code).toBe(250);
        await c.smtp('QUIT');
      } finally {
        c.close();
      }
      expect(postfix.log()).toMatch(/client=unknown\[192\.0\.2\.7\].*sasl_username=alice@example\.com/);
    },
    T,
  );
});
