/**
 * Two mailgate instances sharing one PostgreSQL store behind a real HAProxy (TCP mode,
 * send-proxy-v2, health checks on /readyz), in front of a real Dovecot and Postfix: what one
 * instance creates the other accepts, and every address downstream — Dovecot's rip=, Postfix's
 * XCLIENT ADDR=, the audit log, the portal — is the client's, not HAProxy's (127.0.0.1). Clients
 * use other loopback addresses (127.0.0.5 …) so the two can be told apart.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startHaproxy, type HaproxyInstance } from '../../src/demo/haproxy.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';
import { startPostgres, type PostgresInstance } from '../../src/demo/postgres.js';
import { pop3Section, startGate, type Gate } from '../support/gate.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';
import { behind, nothingThenClose, readyz, waitUntil } from './haproxy-support.js';

const ALICE = 'alice@example.com';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describeInterop('two instances behind HAProxy (PROXY protocol v2)', ['dovecot', 'postfix', 'postgres', 'haproxy'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let pgServer: PostgresInstance;
  let a: Gate;
  let b: Gate;
  let hap: HaproxyInstance;
  let passcode: string;

  beforeAll(async () => {
    [dovecot, pgServer] = await Promise.all([startDovecot(), startPostgres()]);
    postfix = await startPostfix({ dovecot });
    const url = await pgServer.createDatabase('shared');
    // Both instances share the store and the key file (passcode tags, TOTP secrets).
    const secret = join(mkdtempSync(join(tmpdir(), 'mailgate-shared-')), 'secret.key');
    const overrides = {
      store: { sqlite: null, postgres: { url } },
      secret_file: secret,
      imap: { listen: behind(['starttls', 'implicit']) },
      smtp: { listen: behind(['implicit']) },
      pop3: { ...(pop3Section(dovecot).pop3 as object), listen: behind(['starttls']) },
      portal: { listen: { host: '127.0.0.1', port: 0, proxy_protocol: true, proxy_from: ['127.0.0.1/32'] } },
      metrics: { listen: { host: '127.0.0.1', port: 0 } },
    };
    a = await startGate(dovecot, overrides, postfix);
    b = await startGate(dovecot, overrides, postfix);
    const server = (g: Gate, name: string, port: number) => ({ name, port, checkPort: g.server.ops!.address.port });
    const both = (port: (g: Gate) => number) => [server(a, 'a', port(a)), server(b, 'b', port(b))];
    hap = await startHaproxy([
      { name: 'imaps', sendProxy: true, servers: both((g) => g.imapsPort) },
      { name: 'imaps_b', sendProxy: true, servers: [server(b, 'b', b.imapsPort)] },
      { name: 'smtps', sendProxy: true, servers: both((g) => g.smtpsPort) },
      { name: 'pop3', sendProxy: true, servers: both((g) => g.pop3Port) },
      { name: 'portal', sendProxy: true, servers: both((g) => g.server.portal!.address.port) },
    ]);
    // Both instances up in HAProxy's eyes (checks rise after 2 × 300 ms).
    await new Promise((r) => setTimeout(r, 1500));
    passcode = (await a.server.core.manager.createPasscode(ALICE, { name: 'made on A', scopes: ['imap', 'smtp', 'pop3'] })).passcode;
  }, 90_000);
  afterAll(async () => {
    await hap?.stop();
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([postfix?.stop(), dovecot?.stop(), pgServer?.stop()]);
  });

  it('a passcode created through A logs in through B (imapflow via HAProxy)', async () => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: hap.ports.imaps_b!,
      secure: true,
      tls: { ca: readFileSync(a.ca), servername: 'localhost' },
      auth: { user: ALICE, pass: passcode },
      logger: false,
    });
    c.on('error', () => {});
    await c.connect();
    const box = await c.mailboxOpen('INBOX');
    expect(box.path).toBe('INBOX');
    await c.logout();
    // B served it; A has not seen an IMAP login yet.
    expect(b.logs()).toMatch(/"user":"alice@example\.com","via":"accept-passcode".*"msg":"logged in"/);
    expect(a.logs()).not.toMatch(/"msg":"logged in"/);
    const auth = await b.server.core.store.queryAudit({ username: ALICE });
    expect(auth.some((e) => e.type === 'auth' && e.outcome === 'accept')).toBe(true);
  }, 30_000);

  it("IMAP: Dovecot's rip= and mailgate's audit show the client's address, not HAProxy's", async () => {
    const c = await RawClient.connect(hap.ports.imaps!, { tls: true, ca: a.ca, localAddress: '127.0.0.5' });
    await c.until(/^\* OK/);
    expect((await c.cmd('x1', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^x1 OK/);
    c.close();
    expect(dovecot.log()).toMatch(/imap-login: Info: Login: user=<alice@example\.com>.*rip=127\.0\.0\.5,/);
    // Whichever instance took the login writes its audit events once per tick (audit.write_batch).
    const outcomes = async () =>
      (await a.server.core.store.queryAudit({ username: ALICE }))
        .filter((e) => e.type === 'auth' && e.ip === '127.0.0.5')
        .map((e) => e.outcome);
    await expect.poll(outcomes, { timeout: 3000 }).toEqual(['accept']);
    // Nothing anywhere was counted against the balancer's address.
    const audit = await a.server.core.store.queryAudit({ username: ALICE });
    expect(audit.filter((e) => e.type === 'auth').every((e) => e.ip !== '::ffff:127.0.0.1')).toBe(true);
  }, 30_000);

  it('a v2 TCP6 header (as HAProxy writes it for an IPv6 client): Dovecot and the audit get the IPv6 address', async () => {
    const body = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(body, 0); // 2001:db8::7
    body[31] = 1; // ::1
    body.writeUInt16BE(50123, 32);
    body.writeUInt16BE(993, 34);
    const header = Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), Buffer.from([0x21, 0x21, 0, 36]), body]);
    const c = await RawClient.connect(a.imapsPort, { tls: true, ca: a.ca, proxyHeader: header });
    await c.until(/^\* OK/);
    expect((await c.cmd('y1', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^y1 OK/);
    c.close();
    expect(dovecot.log()).toMatch(/imap-login: Info: Login: user=<alice@example\.com>.*rip=2001:db8::7,/);
    const audit = await a.server.core.store.queryAudit({ username: ALICE });
    expect(audit.some((e) => e.type === 'auth' && e.outcome === 'accept' && e.ip === '2001:db8::7')).toBe(true);
  }, 30_000);

  it('SMTP through HAProxy: Postfix gets XCLIENT ADDR= of the client', async () => {
    const t = createTransport({
      host: '127.0.0.1',
      port: hap.ports.smtps!,
      secure: true,
      tls: { ca: readFileSync(a.ca), servername: 'localhost' },
      auth: { user: ALICE, pass: passcode },
      localAddress: '127.0.0.7',
      logger: false,
    });
    await t.sendMail({ from: ALICE, to: 'bob@example.com', subject: 'via haproxy', text: 'hello' });
    t.close();
    const re = /client=unknown\[127\.0\.0\.7\], sasl_method=XCLIENT, sasl_username=alice@example\.com/;
    await waitUntil(() => re.test(postfix.log()), 5000).catch(() => {});
    expect(postfix.log().split('\n').slice(-8).join('\n')).toMatch(re);
  }, 30_000);

  it("POP3 (STLS) through HAProxy: Dovecot's log shows the client's address", async () => {
    const c = await RawClient.connect(hap.ports.pop3!, { localAddress: '127.0.0.8' });
    await c.until(/^\+OK/);
    c.send('STLS\r\n');
    await c.until(/^\+OK/);
    await c.starttls(a.ca);
    c.send(`AUTH PLAIN ${b64(`\0${ALICE}\0${passcode}`)}\r\n`);
    expect(await c.until(/^[-+]/)).toEqual(['+OK Logged in.']);
    c.send('QUIT\r\n');
    await c.until(/^\+OK/);
    expect(dovecot.log()).toMatch(/pop3-login: Info: Login: user=<alice@example\.com>, method=PLAIN, rip=127\.0\.0\.8,/);
  }, 30_000);

  it("the portal behind PROXY sees the client's address (audit, Dovecot's rip=)", async () => {
    const get = await httpFrom(hap.ports.portal!, '127.0.0.6', 'GET', '/signin');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(get.body)?.[1] ?? '';
    const cookie = get.cookies.map((c) => c.split(';')[0]).join('; ');
    const form = new URLSearchParams({ _csrf: csrf, username: ALICE, password: 'not-the-password' }).toString();
    const post = await httpFrom(hap.ports.portal!, '127.0.0.6', 'POST', '/signin', form, cookie);
    expect(post.status).toBe(400); // the wrong password, not 403: B accepted the form A served
    // Round robin: the form came from one instance and was posted to the other.
    expect([a, b].map((g) => (g.logs().match(/"path":"\/signin","status"/g) ?? []).length)).toEqual([1, 1]);
    const audit = await a.server.core.store.queryAudit({ type: 'portal.signin' });
    expect(audit.map((e) => [e.ip, e.reason])).toEqual([['127.0.0.6', 'wrong-password']]);
    expect(dovecot.log()).toMatch(/user=<alice@example\.com>.*rip=127\.0\.0\.6/);
  }, 30_000);

  it('refuses without a greeting: a header from an unlisted address, no header, garbage; logged once per source', async () => {
    const v1 = 'PROXY TCP4 192.0.2.1 127.0.0.1 40000 143\r\n';
    const unlisted = await nothingThenClose(a.imapPort, '127.0.0.9', v1);
    expect(unlisted).toMatchObject({ received: '' });
    expect(unlisted.ms).toBeLessThan(1000);
    expect((await nothingThenClose(a.imapPort, '127.0.0.9', v1)).received).toBe('');
    const garbage = await nothingThenClose(a.imapPort, '127.0.0.1', 'a1 CAPABILITY\r\n');
    expect(garbage).toMatchObject({ received: '' });
    expect(garbage.ms).toBeLessThan(1000);
    // A plain client waits for the greeting; none comes, and the header wait ends after 3 s.
    const silent = await nothingThenClose(a.imapPort, '127.0.0.1', '');
    expect(silent.received).toBe('');
    expect(silent.ms).toBeGreaterThanOrEqual(2900);
    expect(silent.ms).toBeLessThan(5000);
    // A header and a pipelined command in one segment: the command is read after the header.
    const piped = await RawClient.connect(a.imapPort, { proxyHeader: 'PROXY TCP4 192.0.2.50 127.0.0.1 40002 143\r\nc1 NOOP\r\n' });
    expect((await piped.until(/^c1 /)).at(-1)).toMatch(/^c1 OK/);
    piped.close();
    expect(a.logs()).toMatch(/"ip":"192\.0\.2\.50","proto":"imap","msg":"connected"/);
    const lines = a
      .logs()
      .split('\n')
      .filter((l) => l.includes('no valid PROXY header') && l.includes('"ip":"127.0.0.9"'));
    expect(lines).toHaveLength(1);
    // The same client through HAProxy is served.
    const c = await RawClient.connect(hap.ports.imaps!, { tls: true, ca: a.ca, localAddress: '127.0.0.9' });
    expect(await c.until(/^\* OK/)).toHaveLength(1);
    c.close();
  }, 30_000);

  it('PostgreSQL restarted while logins run: NO [UNAVAILABLE], /readyz 503, then both recover by themselves', async () => {
    const fresh = (await a.server.core.manager.createPasscode(ALICE, { name: 'during outage', scopes: ['imap'] })).passcode;
    // Straight to A with our own header (from 127.0.0.1, a proxy_from address): HAProxy takes A
    // out of rotation while its store is down, which is the point, but we want A's own answer.
    const login = async (secret: string, tag: string) => {
      const c = await RawClient.connect(a.imapsPort, {
        tls: true,
        ca: a.ca,
        proxyHeader: 'PROXY TCP4 192.0.2.44 127.0.0.1 40001 993\r\n',
      });
      await c.until(/^\* OK/);
      const r = (await c.cmd(tag, `LOGIN ${ALICE} "${secret}"`, 15_000)).at(-1) ?? '';
      c.close();
      return r;
    };
    // Meanwhile clients keep logging in through HAProxy: each gets OK, NO [UNAVAILABLE], or (no
    // instance ready) a closed connection — the wrong passcode never an OK.
    const seen = new Map<string, number>();
    let running = true;
    const background = (async () => {
      for (let i = 0; running; i++) {
        const secret = i % 2 ? fresh : 'wrong-passcode-xx';
        const c = await RawClient.connect(hap.ports.imaps!, { tls: true, ca: a.ca }).catch(() => null);
        const greeted = c ? (await c.until(/^\* OK/, 3000).catch(() => [])).length > 0 : false;
        const r = c && greeted ? ((await c.cmd('z', `LOGIN ${ALICE} "${secret}"`, 15_000).catch(() => [])).at(-1) ?? 'closed') : 'closed';
        c?.close();
        const kind = `${secret === fresh ? 'right' : 'wrong'} ${/^z (OK|NO \[[A-Z]+\]|BAD)/.exec(r)?.[1] ?? r}`;
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    await pgServer.halt();
    await waitUntil(async () => (await readyz(a)) === 503 && (await readyz(b)) === 503, 5000);
    expect([await readyz(a), await readyz(b)]).toEqual([503, 503]);
    const during = await Promise.all([login(fresh, 'u1'), login('wrong-passcode-xx', 'u2')]);
    expect(during).toEqual(Array(2).fill(expect.stringMatching(/^u\d NO \[UNAVAILABLE\]/)));
    // Long enough for HAProxy's checks (300 ms, fall 2) to take both instances out.
    await new Promise((r) => setTimeout(r, 1500));
    await pgServer.resume();
    await waitUntil(async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, 15_000);
    await waitUntil(async () => /^v1 OK/.test(await login(fresh, 'v1')), 15_000);
    expect(await login('wrong-passcode-xx', 'v2')).toMatch(/^v2 NO \[AUTHENTICATIONFAILED\]/);
    // Through HAProxy again once its checks see /readyz back.
    await waitUntil(async () => {
      const c = await RawClient.connect(hap.ports.imaps!, { tls: true, ca: a.ca }).catch(() => null);
      if (!c) return false;
      const ok = (await c.until(/^\* OK/, 2000).catch(() => [])).length > 0;
      const r = ok ? ((await c.cmd('w1', `LOGIN ${ALICE} "${fresh}"`)).at(-1) ?? '') : '';
      c.close();
      return /^w1 OK/.test(r);
    }, 15_000);
    await waitUntil(() => (seen.get('right OK') ?? 0) > 0, 10_000);
    running = false;
    await background;
    console.log('[haproxy] logins through HAProxy during the PostgreSQL restart:', Object.fromEntries(seen));
    const allowed = [
      'right OK',
      'right NO [UNAVAILABLE]',
      'right closed',
      'wrong NO [AUTHENTICATIONFAILED]',
      'wrong NO [UNAVAILABLE]',
      'wrong closed',
    ];
    expect([...seen.keys()].filter((k) => !allowed.includes(k))).toEqual([]);
    expect(seen.get('right OK') ?? 0).toBeGreaterThan(0);
  }, 60_000);

  /** One HTTP request to the portal through HAProxy from a chosen loopback address. */
  function httpFrom(port: number, from: string, method: string, path: string, body?: string, cookie?: string) {
    return new Promise<{ status: number; body: string; cookies: string[] }>((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (body !== undefined) {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      if (cookie) headers.cookie = cookie;
      const req = request({ host: '127.0.0.1', port, localAddress: from, method, path, headers, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, cookies: res.headers['set-cookie'] ?? [] }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
});
