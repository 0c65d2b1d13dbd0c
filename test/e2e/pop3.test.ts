/**
 * POP3 through mailgate against two independent real upstreams, Dovecot 2.3 and Cyrus 3.6 pop3d,
 * with real clients: Python's poplib (STLS and POP3_SSL), curl pop3s://, fetchmail, and raw
 * transcripts for what clients never do on purpose (AUTH before STLS, STLS injection, APOP). One
 * suite, run once per upstream; what differs between the servers is the POP3 adapter's business
 * (protocols/pop3/family.ts, adapter.ts), so only the upstream's own words (greeting, CAPA, its
 * "+OK" to the login) differ here. Dovecot's log must show the real client address (XCLIENT):
 * registered for Dovecot only, as are the checks that read it.
 */
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { stringify } from 'yaml';
import { main } from '../../src/cli/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { findExecutable } from '../../src/demo/interop.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startCyrus } from '../../src/demo/cyrus.js';
import { describeInterop, type InteropComponent } from '../support/interop.js';
import { gateConfigDoc, pop3Section, startGate, type Gate, type ImapTestUpstream } from '../support/gate.js';
import { RawClient } from '../support/raw.js';

const run = promisify(execFile);
const ALICE = 'alice@example.com';
const b64 = (s: string) => Buffer.from(s).toString('base64');

type Started = ImapTestUpstream & Pick<DovecotInstance, 'pop3Port'> & { log(): string; stop(): Promise<void> };
interface Upstream {
  name: string;
  component: InteropComponent;
  start(): Promise<Started>;
  /** The upstream's greeting as clients see it (no response code, no APOP timestamp). */
  greeting: RegExp;
  /** poplib's sorted CAPA after STLS: the upstream's list, SASL as mailgate speaks it. */
  tlsCapa: RegExp;
  /** What doctor prints for the upstream, for its client address, and for a wrong master password. */
  doctor: { upstream: RegExp; xclient: RegExp; wrongMaster: RegExp };
  /** The upstream's own "+OK" to a login, which the client gets as is (unanchored: whole(), or inside a line). */
  loggedIn: RegExp;
}
/** The pattern as a whole line. */
const whole = (re: RegExp) => new RegExp(`^${re.source}$`);
const UPSTREAMS: Upstream[] = [
  {
    name: 'Dovecot',
    component: 'dovecot',
    start: () => startDovecot(),
    greeting: /^\+OK Dovecot \(mailgate testbed\) ready\.$/,
    // Dovecot's own list, in full (Dovecot has no IMPLEMENTATION line).
    tlsCapa:
      /^tls capa \[\('AUTH-RESP-CODE', \[\]\), \('CAPA', \[\]\), \('PIPELINING', \[\]\), \('RESP-CODES', \[\]\), \('SASL', \['PLAIN', 'LOGIN'\]\), \('TOP', \[\]\), \('UIDL', \[\]\), \('USER', \[\]\)\]$/m,
    loggedIn: /\+OK Logged in\./,
    doctor: {
      upstream: /ok\s+POP3 upstream: 127\.0\.0\.1:\d+ \(starttls\): \+OK \[XCLIENT\] Dovecot/,
      xclient: /ok\s+POP3 XCLIENT: offered to mailgate/,
      wrongMaster: /FAIL\s+POP3 master login: the upstream said "-ERR \[AUTH\] Authentication failed\."/,
    },
  },
  {
    name: 'Cyrus',
    component: 'cyrus',
    start: () => startCyrus(),
    greeting: /^\+OK mailgate-testbed Cyrus POP3 3\.\d+\.\S+ server ready$/,
    // Cyrus' own list: no CAPA line, but EXPIRE, LOGIN-DELAY and IMPLEMENTATION (kept as they are).
    tlsCapa:
      /^tls capa \[\('AUTH-RESP-CODE', \[\]\), \('EXPIRE', \['NEVER'\]\), \('IMPLEMENTATION', \['Cyrus', 'POP3', '3\.[^']+'\]\), \('LOGIN-DELAY', \['0'\]\), \('PIPELINING', \[\]\), \('RESP-CODES', \[\]\), \('SASL', \['PLAIN', 'LOGIN'\]\), \('TOP', \[\]\), \('UIDL', \[\]\), \('USER', \[\]\)\]$/m,
    loggedIn: /\+OK Mailbox locked and ready SESSIONID=<[^>]+>/,
    doctor: {
      upstream: /ok\s+POP3 upstream: 127\.0\.0\.1:\d+ \(starttls\): \+OK mailgate-testbed Cyrus POP3/,
      xclient: /WARN\s+POP3 XCLIENT: Cyrus pop3d takes no client address from a proxy/,
      wrongMaster: /FAIL\s+POP3 master login: the upstream said "-ERR \[AUTH\] authenticating: authentication failure"/,
    },
  },
];

for (const U of UPSTREAMS)
  describeInterop(`POP3 through mailgate against ${U.name}`, [U.component], () => {
    let dovecot: Started; // the upstream (the name stays from when it was always Dovecot)
    let gate: Gate;
    let passcode: string;
    let passcodeId: string;

    beforeAll(async () => {
      dovecot = await U.start();
      // Two messages in alice's INBOX, put there directly (not through mailgate).
      const imap = new ImapFlow({
        host: '127.0.0.1',
        port: dovecot.imapPort,
        secure: false,
        tls: { ca: readFileSync(dovecot.certs.caCert) },
        auth: { user: ALICE, pass: 'alice-main-pw' },
        logger: false,
      });
      await imap.connect();
      for (const n of [1, 2])
        await imap.append('INBOX', `From: t@example.com\r\nSubject: pop3 test ${n}\r\n\r\nbody ${n}\r\n.leading dot\r\n`);
      await imap.logout();
      gate = await startGate(dovecot, pop3Section(dovecot));
      const pc = await gate.server.core.manager.createPasscode(ALICE, { name: 'pop3 app', scopes: ['pop3'] });
      passcode = pc.passcode;
      passcodeId = pc.info.id;
    }, 40_000);
    afterAll(async () => {
      await gate?.close();
      await dovecot?.stop();
    });

    it("Python's poplib: STLS then a passcode; the main password is refused; POP3_SSL likewise; bob passes through", async () => {
      const script = `
import poplib, ssl, sys
port, sport, ca, pc = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
p = poplib.POP3('127.0.0.1', port)
caps = p.capa()
print('clear capa', sorted(caps.items()))
p.stls(context=ctx)
print('tls capa', sorted(p.capa().items()))
p.user('${ALICE}'); print('login', p.pass_(pc).decode())
print('stat', p.stat())
print('retr', b'|'.join(p.retr(1)[1]).decode())
p.quit()
for who, pw in [('${ALICE}', 'alice-main-pw'), ('bob@example.com', 'wrong-pw')]:
    s = poplib.POP3_SSL('127.0.0.1', sport, context=ctx)
    try:
        s.user(who); s.pass_(pw); print('accepted', who)
    except poplib.error_proto as e:
        print('refused', who, e.args[0].decode())
s = poplib.POP3_SSL('127.0.0.1', sport, context=ctx)
s.user('bob@example.com'); print('bob', s.pass_('bob-main-pw').decode(), s.stat()); s.quit()
`;
      const { stdout } = await run('python3', ['-c', script, String(gate.pop3Port), String(gate.pop3sPort), gate.ca, passcode]);
      expect(stdout).toMatch(/^clear capa .*\('STLS', \[\]\)/m);
      expect(stdout).not.toMatch(/^clear capa .*'(USER|SASL|XCLIENT)'/m);
      expect(stdout).toMatch(U.tlsCapa);
      expect(stdout).toMatch(new RegExp(`^login ${U.loggedIn.source}$`, 'm'));
      expect(stdout).toMatch(/^stat \(2, \d+\)$/m);
      expect(stdout).toMatch(/^retr .*Subject: pop3 test 1\|\|body 1\|\.leading dot$/m); // poplib un-stuffs ".." itself
      expect(stdout).toMatch(/^refused alice@example.com -ERR \[AUTH\] Authentication failed\.$/m);
      expect(stdout).toMatch(/^refused bob@example.com -ERR \[AUTH\] Authentication failed\.$/m);
      expect(stdout).toMatch(new RegExp(`^bob ${U.loggedIn.source} \\(0, 0\\)$`, 'm'));
    });

    it('curl pop3s:// lists and retrieves with a passcode', async () => {
      const base = ['-sS', '--cacert', gate.ca, '--user', `${ALICE}:${passcode}`];
      const list = await run('curl', [...base, `pop3s://127.0.0.1:${gate.pop3sPort}/`]);
      expect(list.stdout.trim().split(/\r?\n/)).toHaveLength(2);
      const msg = await run('curl', [...base, `pop3s://127.0.0.1:${gate.pop3sPort}/2`]);
      expect(msg.stdout).toMatch(/Subject: pop3 test 2/);
      const refused = await run('curl', [
        '-sS',
        '--cacert',
        gate.ca,
        '--user',
        `${ALICE}:alice-main-pw`,
        `pop3s://127.0.0.1:${gate.pop3sPort}/`,
      ]).catch((e: { code: number }) => e);
      expect((refused as { code: number }).code).toBe(67); // CURLE_LOGIN_DENIED
    });

    it.runIf(findExecutable('fetchmail') !== null)('fetchmail fetches over STLS with a passcode (keep)', async () => {
      const out = join(gate.dir, 'fetched.mbox');
      const rc = join(gate.dir, 'fetchmailrc');
      writeFileSync(
        rc,
        `poll 127.0.0.1 service ${gate.pop3Port} protocol pop3 auth password user "${ALICE}" password "${passcode}" sslproto tls1.2+ sslcertck sslcertfile "${gate.ca}" sslcommonname localhost keep mda "cat >> ${out}"\n`,
      );
      chmodSync(rc, 0o600);
      // Its own lock file: run as root, fetchmail keeps one in /var/run shared by every run.
      const pidfile = join(gate.dir, 'fetchmail.pid');
      const r = await run('fetchmail', ['-f', rc, '-i', join(gate.dir, 'fetchids'), '--pidfile', pidfile, '--nosyslog', '-v'], {
        env: { ...process.env, HOME: gate.dir },
      });
      expect(r.stdout + r.stderr).toMatch(/2 messages for alice@example\.com/);
      expect(readFileSync(out, 'utf8').match(/^Subject: pop3 test \d/gm)).toEqual(['Subject: pop3 test 1', 'Subject: pop3 test 2']);
    });

    // Reads Dovecot's log (Cyrus logs to syslog only, and its pop3d takes no XCLIENT): Dovecot only.
    if (U.name === 'Dovecot')
      it("Dovecot's log shows the real client address (XCLIENT)", async () => {
        const c = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca, localAddress: '127.0.0.42' });
        await c.until(/^\+OK/);
        c.send(`AUTH PLAIN ${b64(`\0${ALICE}\0${passcode}`)}\r\n`);
        expect(await c.until(/^[-+]/)).toEqual(['+OK Logged in.']);
        c.send('QUIT\r\n');
        await c.until(/^\+OK/);
        expect(dovecot.log()).toMatch(/pop3-login: Info: Login: user=<alice@example\.com>, method=PLAIN, rip=127\.0\.0\.42,/);
      });

    it('AUTH PLAIN with a passcode logs in; the main password is refused for every spelling', async () => {
      const c = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca });
      await c.until(/^\+OK/);
      c.send(`AUTH PLAIN ${b64(`\0${ALICE}\0${passcode}`)}\r\n`);
      expect(await c.until(/^[-+]/)).toEqual([expect.stringMatching(whole(U.loggedIn))]);
      c.send('QUIT\r\n');
      await c.until(/^\+OK/);
      for (const typed of ['alice@example.com', 'ALICE@example.com', ' Alice@Example.COM', 'alice@EXAMPLE.com']) {
        const r = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca });
        await r.until(/^\+OK/);
        r.send(`USER ${typed}\r\nPASS alice-main-pw\r\n`);
        expect(await r.until(/^-ERR/)).toEqual(['+OK', '-ERR [AUTH] Authentication failed.']);
        r.close();
      }
    });

    it('revoking the passcode ends a live POP3 session within 1.5 s', async () => {
      const pc = await gate.server.core.manager.createPasscode(ALICE, { name: 'to revoke', scopes: ['pop3'] });
      const c = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca });
      await c.until(/^\+OK/);
      c.send(`USER ${ALICE}\r\nPASS ${pc.passcode}\r\nSTAT\r\n`); // STAT pipelined behind the login
      expect(await c.until(/^\+OK \d+ \d+$/)).toEqual([
        '+OK',
        expect.stringMatching(whole(U.loggedIn)),
        expect.stringMatching(/^\+OK 2 \d+$/),
      ]);
      const t0 = Date.now();
      await gate.server.core.manager.revokePasscode(ALICE, pc.info.id);
      expect(await c.closedWithin(1_500)).toBe(true);
      expect(Date.now() - t0).toBeLessThan(1_500);
      expect(gate.server.core.sessions.list({ passcodeId: pc.info.id })).toHaveLength(0);
      expect(gate.server.core.sessions.list({ passcodeId })).toHaveLength(0); // the first passcode's sessions ended with QUIT
    });

    it('refuses USER and AUTH before STLS, discards commands pipelined after STLS, never offers APOP', async () => {
      const c = await RawClient.connect(gate.pop3Port);
      const [greeting] = await c.until(/^\+OK/);
      expect(greeting).toMatch(U.greeting); // the upstream's, no [XCLIENT], no APOP <timestamp> (Cyrus sends one)
      c.send(`AUTH PLAIN ${b64(`\0${ALICE}\0${passcode}`)}\r\nUSER ${ALICE}\r\nAPOP ${ALICE} 0123456789abcdef0123456789abcdef\r\n`);
      expect(await c.until(/^-ERR APOP/)).toEqual([
        '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
        '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
        '-ERR APOP not enabled.',
      ]);
      c.send(`STLS\r\nUSER ${ALICE}\r\n`); // the injected USER must not survive the upgrade
      expect(await c.until(/^[-+]/)).toEqual(['+OK Begin TLS negotiation now.']);
      await c.starttls(gate.ca);
      c.send('CAPA\r\n');
      const capa = await c.until(/^\.$/);
      expect(capa).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN LOGIN']));
      expect(capa.join('\n')).not.toMatch(/STLS|XCLIENT|APOP/);
      c.send(`PASS ${passcode}\r\n`);
      expect(await c.until(/^[-+]/)).toEqual(['-ERR No username given.']);
      c.close();
    });

    it('doctor checks the POP3 upstream: reachable over STLS, client address, master login; a wrong master password fails', async () => {
      const doctor = async (overrides: Record<string, unknown>) => {
        const file = join(gate.dir, 'doctor-pop3.yaml');
        // POP3 only: the IMAP checks would add Dovecot's failure delays for their probes.
        writeFileSync(file, stringify(gateConfigDoc(dovecot, gate.dir, { ...overrides, imap: null })));
        let out = '';
        const io = {
          out: (t: string) => {
            out += `${t}\n`;
          },
          err: (t: string) => {
            out += t;
          },
          env: {},
        };
        return { code: await main(['doctor', '--config', file], io), out };
      };
      const good = await doctor(pop3Section(dovecot));
      expect(good.out).toMatch(U.doctor.upstream);
      expect(good.out).toMatch(U.doctor.xclient);
      expect(good.out).toMatch(/ok\s+POP3 master login: master credentials of mailgate accepted/);
      expect(good.code).toBe(0);
      const wrong = pop3Section({ ...dovecot, master: { user: dovecot.master.user, password: 'not-the-master-password' } });
      const bad = await doctor(wrong);
      expect(bad.out).toMatch(U.doctor.wrongMaster);
      expect(bad.code).toBe(1);
      expect(bad.out).not.toContain('not-the-master-password');
    }, 40_000);

    it('answers [SYS/TEMP] and logs an error for the admin when the upstream refuses the master login', async () => {
      // bob is a real account but no master user (Dovecot) / not in proxyservers (Cyrus).
      const wrong = await startGate(dovecot, pop3Section({ ...dovecot, master: { user: 'bob@example.com', password: 'bob-main-pw' } }));
      try {
        const p = await wrong.server.core.manager.createPasscode(ALICE, { name: 'x', scopes: ['pop3'] });
        const c = await RawClient.connect(wrong.pop3sPort, { tls: true, ca: wrong.ca, localAddress: '127.0.0.7' });
        await c.until(/^\+OK/);
        c.send(`USER ${ALICE}\r\nPASS ${p.passcode}\r\n`);
        expect(await c.until(/^-ERR/, 20_000)).toEqual([
          '+OK',
          '-ERR [SYS/TEMP] Temporary authentication failure, please try again later.',
        ]);
        c.close();
        expect(wrong.logs()).toMatch(/"level":50.*upstream refused the master login: check pop3\.upstream\.auth/);
      } finally {
        await wrong.close();
      }
    }, 30_000);

    it('gives an account unknown upstream the normal failure: with a passcode (master login) and with a password (passthrough)', async () => {
      // dave has a passcode in mailgate but no mailbox upstream. Dovecot refuses the master login
      // ("Authorization failed"); Cyrus takes it and then finds no maildrop ([SYS/TEMP]), which the
      // adapter reads as the same unknown account (protocols/pop3/family.ts).
      const m = gate.server.core.manager;
      await m.setEnforcement('dave@example.com', true);
      const p = await m.createPasscode('dave@example.com', { name: 'ghost', scopes: ['pop3'] });
      const attempt = async (from: string, user: string, secret: string) => {
        const c = await RawClient.connect(gate.pop3sPort, { tls: true, ca: gate.ca, localAddress: from });
        await c.until(/^\+OK/);
        c.send(`USER ${user}\r\nPASS ${secret}\r\n`);
        const r = await c.until(/^-ERR|^\+OK ./, 20_000);
        c.close();
        return r;
      };
      expect(await attempt('127.0.0.5', 'dave@example.com', p.passcode)).toEqual(['+OK', '-ERR [AUTH] Authentication failed.']);
      expect(gate.logs()).toMatch(/"user":"dave@example.com".*upstream refused the master login for this user \(unknown account\?\)/);
      expect(gate.logs()).not.toMatch(/"user":"dave@example.com".*POP3 upstream unavailable/);
      expect(gate.server.core.sessions.list({ passcodeId: p.info.id })).toHaveLength(0);
      // On a mismatch, the gate's own account of the login says why (it was once [SYS/TEMP] in CI).
      const why = () =>
        gate
          .logs()
          .split('\n')
          .filter((l) => l.includes('erin@example.com'))
          .join('\n');
      expect(await attempt('127.0.0.6', 'erin@example.com', 'some-password'), why()).toEqual(['+OK', '-ERR [AUTH] Authentication failed.']);
    }, 30_000);
  });
