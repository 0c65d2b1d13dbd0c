/**
 * IMAP through mailgate against two independent real upstreams, Dovecot 2.3 and Cyrus IMAP 3.6,
 * with real clients (imapflow, raw transcripts): one suite, run once per upstream. Whatever
 * differs between the servers is the upstream adapter's business (protocols/imap/family.ts,
 * upstream.ts), so the expectations here are the same for both, except where a test reads a
 * server's own log or uses a login method only one of them has.
 * Policy in the gate: alice@example.com is enforced, bob@example.com is not.
 */
import { readFileSync } from 'node:fs';
import { constants as zlibConstants, createDeflateRaw, createInflateRaw } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { describeInterop, type InteropComponent } from '../support/interop.js';
import { startGate, type Gate, type ImapTestUpstream } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type TestUser } from '../../src/demo/dovecot.js';
import { startCyrus } from '../../src/demo/cyrus.js';
import { freePort } from '../../src/demo/ports.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { gateConfigDoc } from '../support/gate.js';
import { doctorCommand } from '../../src/cli/doctor.js';

const ALICE = 'alice@example.com';
const ODD = { user: 'carol@example.com', password: 'pä "ss" w{rd}\\ x' }; // spaces, quotes, UTF-8, braces, backslash

type Started = ImapTestUpstream & { imapsPort: number; log(): string; stop(): Promise<void> };
interface Upstream {
  name: string;
  component: InteropComponent;
  start(o: { users: TestUser[]; messages: Array<{ user: string; raw: string }> }): Promise<Started>;
  /** What mailgate doctor names it, and the server setting it points to when the master login is refused. */
  doctor: { family: RegExp; fix: RegExp };
}
const UPSTREAMS: Upstream[] = [
  {
    name: 'Dovecot',
    component: 'dovecot',
    start: (o) => startDovecot(o),
    doctor: { family: /Dovecot — /, fix: /passdb with master = yes and pass = yes/ },
  },
  {
    name: 'Cyrus',
    component: 'cyrus',
    start: (o) => startCyrus(o),
    doctor: { family: /Cyrus IMAP — /, fix: /"proxyservers: bob@example\.com" in imapd\.conf/ },
  },
];

for (const U of UPSTREAMS)
  describeInterop(`IMAP front against ${U.name}`, [U.component], () => {
    let dovecot: Started; // the upstream (the name stays from when it was always Dovecot)
    let gate: Gate;
    let passcode: { id: string; formatted: string };

    const client = (user: string, pass: string, opts: { starttls?: boolean } = {}) => {
      const c = new ImapFlow({
        host: '127.0.0.1',
        port: opts.starttls ? gate.imapPort : gate.imapsPort,
        secure: !opts.starttls,
        doSTARTTLS: opts.starttls ? true : undefined,
        tls: { ca: readFileSync(gate.ca) },
        auth: { user, pass },
        logger: false,
        disableAutoIdle: true,
      });
      c.on('error', () => {});
      return c;
    };
    const loginFails = async (user: string, pass: string): Promise<string> => {
      const c = client(user, pass);
      try {
        await c.connect();
        await c.logout();
        return 'logged in';
      } catch (e) {
        return String((e as { responseText?: string }).responseText ?? (e as Error).message);
      } finally {
        c.close();
      }
    };

    beforeAll(async () => {
      dovecot = await U.start({
        users: [{ user: ALICE, password: 'alice-main-pw' }, { user: 'bob@example.com', password: 'bob-main-pw' }, ODD],
        messages: [{ user: ALICE, raw: 'From: x@example.org\r\nSubject: first\r\n\r\nhello alice\r\n' }],
      });
      gate = await startGate(dovecot);
      const r = await gate.server.core.manager.createPasscode(ALICE, { name: 'imapflow', scopes: ['imap'] });
      passcode = { id: r.info.id, formatted: r.formatted };
    }, 30_000);

    afterAll(async () => {
      await gate?.close();
      await dovecot?.stop();
    });

    it('lets an enforced account in with its passcode: SELECT, FETCH, APPEND and IDLE work through the splice', async () => {
      const c = client(ALICE, passcode.formatted);
      await c.connect();
      expect(c.capabilities.has('IDLE')).toBe(true);
      const box = await c.mailboxOpen('INBOX');
      expect(box.exists).toBe(1);
      const msg = await c.fetchOne('1', { source: true, envelope: true });
      expect(msg && msg.envelope?.subject).toBe('first');
      expect(msg && msg.source?.toString()).toContain('hello alice');
      await c.append('INBOX', 'From: me@example.com\r\nSubject: appended\r\n\r\nvia mailgate\r\n', ['\\Seen']);
      expect(((await c.status('INBOX', { messages: true })) as { messages?: number }).messages).toBe(2);
      // IDLE: a message appended by another session is announced to the idling one.
      const exists = new Promise<number>((res) => c.on('exists', (d: { count: number }) => res(d.count)));
      const idling = c.idle();
      const other = client(ALICE, passcode.formatted);
      await other.connect();
      await other.append('INBOX', 'Subject: during idle\r\n\r\nx\r\n');
      await other.logout();
      expect(await exists).toBe(3);
      await c.noop();
      await idling.catch(() => {});
      await c.logout();
    });

    it('COMPRESS=DEFLATE (RFC 4978) negotiates and works through the splice', async () => {
      const c = new ImapFlow({
        host: '127.0.0.1',
        port: gate.imapsPort,
        secure: true,
        tls: { ca: readFileSync(gate.ca) },
        auth: { user: ALICE, pass: passcode.formatted },
        logger: false,
      });
      c.on('error', () => {});
      await c.connect(); // imapflow turns compression on by itself after login when offered
      expect(c.capabilities.has('COMPRESS=DEFLATE')).toBe(true);
      expect((await c.mailboxOpen('INBOX')).exists).toBeGreaterThanOrEqual(1);
      await c.logout();
      // And by hand: after "OK DEFLATE active" both directions are raw DEFLATE streams.
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      expect((await raw.cmd('k1', `LOGIN ${ALICE} "${passcode.formatted}"`)).at(-1)).toMatch(/^k1 OK/);
      expect((await raw.cmd('k2', 'COMPRESS DEFLATE')).at(-1)).toMatch(/^k2 OK/);
      const deflate = createDeflateRaw();
      const inflate = createInflateRaw();
      raw.socket.removeAllListeners('data');
      raw.socket.setEncoding('latin1');
      raw.socket.on('data', (d: string) => inflate.write(Buffer.from(d, 'latin1')));
      deflate.on('data', (d: Buffer) => raw.socket.write(d));
      let text = '';
      inflate.on('data', (d: Buffer) => {
        text += d.toString();
      });
      deflate.write('k3 SELECT INBOX\r\n');
      deflate.flush(zlibConstants.Z_SYNC_FLUSH);
      for (let i = 0; i < 100 && !/k3 OK/.test(text); i++) await new Promise((r) => setTimeout(r, 20));
      expect(text).toMatch(/^k3 OK \[READ-WRITE\]/m);
      raw.close();
    });

    it("refuses an enforced account's main password with the generic failure", async () => {
      expect(await loginFails(ALICE, 'alice-main-pw')).toBe('Authentication failed.');
    });

    it('refuses a passcode with the wrong scope, an expired and a revoked one', async () => {
      const m = gate.server.core.manager;
      const smtpOnly = await m.createPasscode(ALICE, { name: 'smtp only', scopes: ['smtp'] });
      expect(await loginFails(ALICE, smtpOnly.formatted)).toBe('Authentication failed.');
      const expired = await m.createPasscode(ALICE, { name: 'old', scopes: ['imap'], expiresAt: Date.now() - 1000 });
      expect(await loginFails(ALICE, expired.formatted)).toBe('Authentication failed.');
      const revoked = await m.createPasscode(ALICE, { name: 'lost phone', scopes: ['imap'] });
      const c = client(ALICE, revoked.formatted);
      await c.connect(); // works (and is now cached) before the revocation …
      await c.logout();
      await m.revokePasscode(ALICE, revoked.info.id);
      expect(await loginFails(ALICE, revoked.formatted)).toBe('Authentication failed.'); // … and not after
    });

    it('passes a non-enforced account through with its own password, and refuses a wrong one', async () => {
      const c = client('bob@example.com', 'bob-main-pw', { starttls: true });
      await c.connect();
      expect(c.secureConnection).toBe(true);
      expect((await c.mailboxOpen('INBOX')).exists).toBe(0);
      await c.logout();
      expect(await loginFails('bob@example.com', 'wrong')).toBe('Authentication failed.');
    });

    it('advertises LOGINDISABLED and refuses LOGIN in clear; STARTTLS enables it and drops pipelined clear text', async () => {
      const raw = await RawClient.connect(gate.imapPort);
      const [greeting] = await raw.until(/^\* OK/);
      expect(greeting).toMatch(/\bSTARTTLS\b/);
      expect(greeting).toMatch(/\bLOGINDISABLED\b/);
      expect(greeting).not.toMatch(/\bAUTH=/); // \b: Cyrus offers URLAUTH=BINARY, which is no SASL mechanism
      expect((await raw.cmd('a1', 'LOGIN bob@example.com bob-main-pw')).at(-1)).toMatch(/^a1 NO \[PRIVACYREQUIRED\]/);
      expect((await raw.cmd('a2', 'AUTHENTICATE PLAIN AGJvYkBleGFtcGxlLmNvbQBib2ItbWFpbi1wdw==')).at(-1)).toMatch(
        /^a2 NO \[PRIVACYREQUIRED\]/,
      );
      // STARTTLS with a command pipelined in the same packet: the injected command must not run.
      raw.send('a3 STARTTLS\r\na4 CAPABILITY\r\n');
      await raw.until(/^a3 OK/);
      await raw.starttls(gate.ca);
      const caps = await raw.cmd('a5', 'CAPABILITY');
      expect(caps.join('\n')).not.toMatch(/^a4 /m);
      expect(caps[0]).toMatch(/AUTH=PLAIN/);
      expect(caps[0]).not.toMatch(/LOGINDISABLED|STARTTLS/);
      expect((await raw.cmd('a6', 'LOGIN bob@example.com bob-main-pw')).at(-1)).toMatch(/^a6 OK \[CAPABILITY /);
      expect((await raw.cmd('a7', 'SELECT INBOX')).at(-1)).toMatch(/^a7 OK \[READ-WRITE\]/);
      raw.close();
    });

    it('takes a password with spaces, quotes and UTF-8 through synchronising and LITERAL+ literals', async () => {
      const pw = Buffer.from(ODD.password, 'utf8');
      for (const plus of ['', '+']) {
        const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
        await raw.until(/^\* OK/);
        raw.send(`b1 LOGIN "${ODD.user}" {${pw.length}${plus}}\r\n`);
        if (!plus) await raw.until(/^\+ /);
        raw.send(Buffer.concat([pw, Buffer.from('\r\n')]));
        expect((await raw.until(/^b1 /)).at(-1)).toMatch(/^b1 OK/);
        raw.close();
      }
    });

    it('supports AUTHENTICATE PLAIN with and without SASL-IR, and AUTHENTICATE LOGIN; * cancels', async () => {
      const plain = Buffer.from(`\u0000${ALICE}\u0000${passcode.formatted}`).toString('base64');
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      raw.send('c0 AUTHENTICATE PLAIN\r\n');
      await raw.until(/^\+/);
      raw.send('*\r\n');
      expect((await raw.until(/^c0 /)).at(-1)).toMatch(/^c0 BAD/);
      expect((await raw.cmd('c1', `AUTHENTICATE PLAIN ${plain}`)).at(-1)).toMatch(/^c1 OK/);
      raw.close();

      const raw2 = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw2.until(/^\* OK/);
      raw2.send('d1 AUTHENTICATE PLAIN\r\n');
      await raw2.until(/^\+/);
      raw2.send(`${plain}\r\n`);
      expect((await raw2.until(/^d1 /)).at(-1)).toMatch(/^d1 OK/);
      raw2.close();

      const raw3 = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw3.until(/^\* OK/);
      raw3.send('e1 AUTHENTICATE LOGIN\r\n');
      await raw3.until(/^\+ VXNlcm5hbWU6/);
      raw3.send(`${Buffer.from(ALICE).toString('base64')}\r\n`);
      await raw3.until(/^\+ UGFzc3dvcmQ6/);
      raw3.send(`${Buffer.from(passcode.formatted).toString('base64')}\r\n`);
      expect((await raw3.until(/^e1 /)).at(-1)).toMatch(/^e1 OK/);
      raw3.close();
    });

    it('forwards commands pipelined right behind LOGIN to the upstream', async () => {
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      raw.send(`f1 LOGIN ${ALICE} "${passcode.formatted}"\r\nf2 SELECT INBOX\r\nf3 LOGOUT\r\n`);
      const lines = await raw.until(/^f3 OK/);
      expect(lines.find((l) => l.startsWith('f1 '))).toMatch(/^f1 OK/);
      expect(lines.find((l) => l.startsWith('f2 '))).toMatch(/^f2 OK \[READ-WRITE\]/);
      raw.close();
    });

    it('answers BAD before login and hangs up after a budget of bad commands', async () => {
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      expect((await raw.cmd('g1', 'SELECT INBOX')).at(-1)).toMatch(/^g1 BAD/);
      expect((await raw.cmd('g2', 'FOO')).at(-1)).toMatch(/^g2 BAD/);
      raw.send('this is not imap\r\n');
      await raw.until(/BAD/);
      raw.send('g4 LOGIN\r\ng5 NOOP x y (\r\n');
      await raw.until(/^\* BYE/);
      expect(await raw.closedWithin(2000)).toBe(true);
    });

    // Reads Dovecot's log; Cyrus logs to syslog only (none in the testbed).
    // Dovecot-only checks are registered only for Dovecot: a skipped test would read as something missing.
    if (U.name === 'Dovecot')
      it('forwards the real client address, so Dovecot penalises the client and not mailgate', async () => {
        // Failures from 127.0.0.2 must not slow down a login from 127.0.0.3: Dovecot's auth penalty
        // lands on the IP it sees, which is the forwarded one (ID x-originating-ip).
        const fail = async () => {
          const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.2' });
          await raw.until(/^\* OK/);
          const r = await raw.cmd('h1', 'LOGIN bob@example.com wrong-password', 20_000);
          raw.close();
          return r.at(-1);
        };
        expect(await Promise.all([fail(), fail(), fail(), fail()])).toEqual(
          Array(4).fill('h1 NO [AUTHENTICATIONFAILED] Authentication failed.'),
        );
        const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.3' });
        await raw.until(/^\* OK/);
        const t0 = Date.now();
        expect((await raw.cmd('h2', 'LOGIN bob@example.com bob-main-pw')).at(-1)).toMatch(/^h2 OK/);
        expect(Date.now() - t0).toBeLessThan(1500);
        raw.close();
        expect(dovecot.log()).toMatch(/user=<bob@example.com>.*rip=127\.0\.0\.3/);
        expect(dovecot.log()).toMatch(/rip=127\.0\.0\.2/);
      }, 30_000);

    it('ends the live sessions of a revoked passcode within a second', async () => {
      const m = gate.server.core.manager;
      const p = await m.createPasscode(ALICE, { name: 'to revoke', scopes: ['imap'] });
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      expect((await raw.cmd('i1', `LOGIN ${ALICE} "${p.formatted}"`)).at(-1)).toMatch(/^i1 OK/);
      expect((await raw.cmd('i2', 'SELECT INBOX')).at(-1)).toMatch(/^i2 OK/);
      expect(gate.server.core.sessions.list({ passcodeId: p.info.id })).toHaveLength(1);
      // As the CLI does it: another process writes the revocation to the store; the watcher ends the session.
      await gate.server.core.store.revokePasscode(ALICE, p.info.id, Date.now());
      expect(await raw.closedWithin(1500)).toBe(true);
      expect(gate.server.core.sessions.list({ passcodeId: p.info.id })).toHaveLength(0);
    });

    it('answers NO [UNAVAILABLE] and logs an error when the upstream is down', async () => {
      const down = await startGate(dovecot, { imap: { upstream: { port: await freePort() } } });
      try {
        const p = await down.server.core.manager.createPasscode(ALICE, { name: 'x', scopes: ['imap'] });
        const raw = await RawClient.connect(down.imapsPort, { tls: true, ca: down.ca });
        await raw.until(/^\* OK/);
        expect((await raw.cmd('j1', `LOGIN ${ALICE} "${p.formatted}"`)).at(-1)).toMatch(/^j1 NO \[UNAVAILABLE\]/);
        raw.close();
        expect(down.logs()).toMatch(/"level":50.*upstream unavailable/);
      } finally {
        await down.close();
      }
    });

    // Cyrus has no master-user separator: its proxy login is SASL authzid only (proxyservers).
    if (U.name === 'Dovecot')
      it('logs in upstream with the separator method (LOGIN user*master) over implicit TLS to the upstream', async () => {
        const other = await startGate(dovecot, {
          imap: {
            upstream: {
              port: dovecot.imapsPort,
              tls: 'implicit',
              auth: { method: 'separator', user: dovecot.master.user, password: dovecot.master.password },
            },
          },
        });
        try {
          const p = await other.server.core.manager.createPasscode(ALICE, { name: 'sep', scopes: ['imap'] });
          const raw = await RawClient.connect(other.imapsPort, { tls: true, ca: other.ca });
          await raw.until(/^\* OK/);
          expect((await raw.cmd('s1', `LOGIN ${ALICE} "${p.formatted}"`)).at(-1)).toMatch(/^s1 OK/);
          expect((await raw.cmd('s2', 'SELECT INBOX')).at(-1)).toMatch(/^s2 OK \[READ-WRITE\]/);
          raw.close();
          // Dovecot writes its log asynchronously.
          for (
            let i = 0;
            i < 40 && !/Login: user=<alice@example.com>, method=PLAIN, .*TLS, session=<[0-9a-f]{16}>/.test(dovecot.log());
            i++
          )
            await new Promise((r) => setTimeout(r, 50));
          // Implicit TLS to the upstream, and our session id in Dovecot's log (ID x-session-ext-id).
          expect(dovecot.log()).toMatch(/imap-login: Info: Login: user=<alice@example.com>, method=PLAIN, .*TLS, session=<[0-9a-f]{16}>/);
        } finally {
          await other.close();
        }
      });

    it('answers NO [UNAVAILABLE] and logs an error for the admin when the upstream refuses the master login', async () => {
      // bob is a real account but no master user (Dovecot) / not in proxyservers (Cyrus): the
      // upstream refuses him as a proxy — Dovecot "NO [AUTHENTICATIONFAILED]", Cyrus a bare
      // "NO authentication failure" — and either way it is the admin's configuration, not the user.
      const wrong = await startGate(dovecot, {
        imap: { upstream: { auth: { method: 'sasl-proxy', user: 'bob@example.com', password: 'bob-main-pw' } } },
      });
      try {
        const p = await wrong.server.core.manager.createPasscode(ALICE, { name: 'x', scopes: ['imap'] });
        const raw = await RawClient.connect(wrong.imapsPort, { tls: true, ca: wrong.ca });
        await raw.until(/^\* OK/);
        expect((await raw.cmd('m1', `LOGIN ${ALICE} "${p.formatted}"`, 20_000)).at(-1)).toBe(
          'm1 NO [UNAVAILABLE] Service temporarily unavailable, please try again later.',
        );
        raw.close();
        expect(wrong.logs()).toMatch(
          new RegExp(`"level":50.*"upstream":"${U.component}".*upstream refused the master login: check imap.upstream.auth`),
        );
      } finally {
        await wrong.close();
      }
    }, 30_000);

    it('gives an account unknown upstream the normal failure: with a passcode (master login) and with a password (passthrough)', async () => {
      // dave has a passcode in mailgate but no mailbox upstream. Dovecot refuses the master login
      // for him ([AUTHORIZATIONFAILED]); Cyrus logs a proxy server in as anyone, so the adapter
      // finds no INBOX and turns that into the same refusal.
      const m = gate.server.core.manager;
      await m.setEnforcement('dave@example.com', true);
      const p = await m.createPasscode('dave@example.com', { name: 'ghost', scopes: ['imap'] });
      // Own source addresses: Dovecot's auth penalty for the earlier failures from 127.0.0.1 stays out.
      const attempt = async (from: string, user: string, secret: string) => {
        const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
        await raw.until(/^\* OK/);
        const r = (await raw.cmd('u1', `LOGIN ${user} "${secret}"`, 20_000)).at(-1);
        raw.close();
        return r;
      };
      expect(await attempt('127.0.0.5', 'dave@example.com', p.formatted)).toBe('u1 NO [AUTHENTICATIONFAILED] Authentication failed.');
      expect(gate.logs()).toMatch(/"user":"dave@example.com".*upstream refused the master login for this user \(unknown account\?\)/);
      expect(gate.server.core.sessions.list({ passcodeId: p.info.id })).toHaveLength(0);
      expect(await attempt('127.0.0.6', 'erin@example.com', 'some-password')).toBe('u1 NO [AUTHENTICATIONFAILED] Authentication failed.');
    }, 30_000);

    it('mailgate doctor names the upstream family and, for a refused master login, the setting of that server', async () => {
      const doctor = async (overrides: Record<string, unknown>): Promise<{ code: number; out: string }> => {
        const file = join(gate.dir, `doctor-${Object.keys(overrides).length}.yaml`);
        writeFileSync(file, stringify(gateConfigDoc(dovecot, gate.dir, overrides)));
        const lines: string[] = [];
        const code = await doctorCommand(['--config', file], { out: (t) => lines.push(t), err: (t) => lines.push(t), env: process.env });
        return { code, out: lines.join('\n') };
      };
      const good = await doctor({});
      expect(good.out).toMatch(new RegExp(`ok +IMAP upstream: .*${U.doctor.family.source}`));
      expect(good.out).toMatch(/ok +IMAP master login: master credentials of mailgate accepted/);
      expect(good.code).toBe(0);
      const bad = await doctor({
        imap: { upstream: { auth: { method: 'sasl-proxy', user: 'bob@example.com', password: 'bob-main-pw' } } },
      });
      expect(bad.out).toMatch(/FAIL +IMAP master login: /);
      expect(bad.out).toMatch(U.doctor.fix);
      expect(bad.code).toBe(1);
      expect(bad.out).not.toContain('bob-main-pw');
    }, 30_000);

    it('never writes a secret to its log', () => {
      const logs = gate.logs();
      expect(logs.length).toBeGreaterThan(1000);
      for (const secret of [
        'alice-main-pw',
        'bob-main-pw',
        'wrong-password',
        passcode.formatted,
        passcode.formatted.replace(/ /g, ''),
        dovecot.master.password,
      ]) {
        expect(logs).not.toContain(secret);
      }
    });
  });
