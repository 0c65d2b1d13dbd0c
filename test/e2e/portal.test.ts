/**
 * Portal security at the HTTP level: CSRF, cookie flags, session timeouts (injected clock),
 * sign-in throttling, escaping, reverse-proxy base path, TLS. No mail server needed: the
 * upstream password check is a fake here (the Dovecot-backed one is tested in portal-imap).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/core/totp.js';
import { AuthGuard, DEFAULT_GUARD } from '../../src/core/guard.js';
import { localGuard } from '../../src/core/guard-port.js';
import { makeCerts } from '../../src/demo/certs.js';
import { Browser, csrfOf, enrol, startHarness, type Harness } from './portal-harness.js';

const MIN = 60_000;

describe('portal over HTTP', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('sends safe headers and session cookies: HttpOnly, SameSite=Strict, no Secure on plain HTTP', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const page = await b.get('/signin');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.setCookies[0]).toMatch(/^mailgate_signin=[\w-]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const r = await b.request('POST', '/signin', { _csrf: csrfOf(page.text), username: 'alice@example.com', password: 'alice-main-pw' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/');
    const session = r.setCookies.find((c) => c.startsWith('mailgate_session='))!;
    expect(session).toMatch(/^mailgate_session=[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
    // Server-side: only a hash of the cookie value is stored.
    const raw = b.cookies.get('mailgate_session')!;
    expect(await h.store.getPortalSession(raw)).toBeUndefined();
  });

  it('refuses every form without the right CSRF token', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    await b.get('/signin');
    expect((await b.request('POST', '/signin', { username: 'alice@example.com', password: 'alice-main-pw' })).status).toBe(403);
    expect((await b.request('POST', '/signin', { _csrf: 'forged', username: 'alice@example.com', password: 'alice-main-pw' })).status).toBe(
      403,
    );
    const other = new Browser(h.url); // a token minted for another browser's nonce
    const foreign = csrfOf((await other.get('/signin')).text);
    expect((await b.request('POST', '/signin', { _csrf: foreign, username: 'alice@example.com', password: 'alice-main-pw' })).status).toBe(
      403,
    );
    expect(h.logins).toEqual([]); // refused before the password was even checked

    const { secret } = await enrol(b, h);
    h.clock.t += 30_000;
    for (const path of ['/passcodes', '/revoke', '/codes', '/disable', '/enable', '/signout']) {
      const r = await b.request('POST', path, { _csrf: foreign, name: 'x', scopes: 'imap', code: totpCode(secret, h.clock.now()) });
      expect([path, r.status]).toEqual([path, 403]);
    }
    expect(await h.manager.listPasscodes('alice@example.com')).toEqual([]);
    expect((await b.get('/')).status).toBe(200); // still signed in
    // A form must be urlencoded: a cross-site "simple" text/plain post cannot smuggle fields.
    const t = await b.request('POST', '/codes', undefined, { 'content-type': 'text/plain' });
    expect(t.status).toBe(415);
  });

  it('ends sessions after 30 idle minutes and after 12 hours in all; the code step after 10 minutes', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    await b.signIn('bob@example.com');
    h.clock.t += 29 * MIN;
    expect((await b.get('/')).status).toBe(200);
    h.clock.t += 31 * MIN;
    const idle = await b.get('/');
    expect([idle.status, idle.headers.get('location')]).toEqual([303, '/signin?notice=expired']);
    expect((await b.get('/signin?notice=expired')).text).toContain('You were signed out');

    await b.signIn('bob@example.com');
    for (let i = 0; i < 36; i++) {
      h.clock.t += 20 * MIN;
      expect((await b.get('/')).status).toBe(200);
    } // 12 h of activity
    h.clock.t += 1 * MIN;
    expect((await b.get('/')).headers.get('location')).toBe('/signin?notice=expired');

    const a = new Browser(h.url);
    await enrol(a, h);
    await a.submit('/signout', {}, '/');
    expect((await a.signIn()).headers.get('location')).toBe('/verify');
    expect((await a.get('/')).headers.get('location')).toBe('/verify'); // not signed in yet
    h.clock.t += 11 * MIN;
    expect((await a.get('/verify')).headers.get('location')).toBe('/signin?notice=expired');
  });

  it('gives a new session id once the second factor is passed (no fixation)', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const { secret } = await enrol(b, h);
    await b.submit('/signout', {}, '/');
    await b.signIn();
    const before = b.cookies.get('mailgate_session');
    h.clock.t += 30_000;
    const r = await b.submit('/verify', { code: totpCode(secret, h.clock.now()) });
    expect(r.headers.get('location')).toBe('/');
    expect(b.cookies.get('mailgate_session')).not.toBe(before);
    const stale = new Browser(h.url);
    stale.cookies.set('mailgate_session', before!);
    expect((await stale.get('/')).headers.get('location')).toBe('/signin?notice=expired');
  });

  it('throttles failed sign-ins per IP and account, without asking the mail server meanwhile', async () => {
    h = await startHarness({ throttle: { baseDelayMs: 10_000, maxDelayMs: 60_000 } });
    const b = new Browser(h.url);
    for (let i = 0; i < 5; i++) expect((await b.signIn('alice@example.com', 'guess')).status).toBe(400);
    expect((await b.signIn('alice@example.com', 'guess')).status).toBe(400); // 6th: counted, now a wait
    const calls = h.logins.length;
    const blocked = await b.signIn(); // even the right password waits
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toBe('10');
    expect(blocked.text).toContain('Too many failed attempts. Wait 10 seconds');
    expect(h.logins.length).toBe(calls);
    expect((await b.signIn('bob@example.com')).status).toBe(303); // another account from the same IP is not blocked
    h.clock.t += 10_001;
    expect((await new Browser(h.url).signIn()).status).toBe(303);
    const audit = await h.store.queryAudit({ username: 'alice@example.com', type: 'portal.signin' });
    expect(audit.map((e) => e.reason)).toEqual([...Array(6).fill('wrong-password'), 'throttled', null]);
  });

  it('throttles wrong second-factor codes too, and says what to do about a reused code', async () => {
    h = await startHarness({ throttle: { baseDelayMs: 10_000 } });
    const b = new Browser(h.url);
    const { secret } = await enrol(b, h);
    await b.submit('/signout', {}, '/');
    await b.signIn();
    const replay = await b.submit('/verify', { code: totpCode(secret, h.clock.now()) }); // spent by the enrolment
    expect(replay.text).toContain('That code was already used');
    for (let i = 0; i < 5; i++) await b.submit('/verify', { code: '000000' }); // 6 failures: now a wait
    const next = totpCode(secret, h.clock.now() + 30_000); // the next step's code: valid (±1 step), unspent
    const r = await b.submit('/verify', { code: next });
    expect([r.status, r.headers.get('retry-after')]).toEqual([429, '10']);
    h.clock.t += 10_000;
    expect((await b.submit('/verify', { code: next })).headers.get('location')).toBe('/');
  });

  it('never turns user input into markup', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    await enrol(b, h);
    const evil = '<script>alert(1)</script>"\'><img src=x onerror=alert(2)>';
    const created = await b.follow(await b.submit('/passcodes', { name: evil, scopes: ['imap'], expiry: 'never' }));
    expect(created.status).toBe(200);
    const list = await b.get('/passcodes');
    for (const text of [created.text, list.text]) {
      expect(text).not.toContain('<script>alert');
      expect(text).not.toContain('<img src=x');
      expect(text).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    }
    const bad = await b.request('POST', '/signin', { _csrf: 'x', username: evil, password: 'x' });
    expect(bad.text).not.toContain('<script>alert');
  });

  it('works below a reverse-proxy path with Secure cookies when public_url is https', async () => {
    h = await startHarness({
      portal: {
        listen: { host: '127.0.0.1', port: 0 },
        publicUrl: 'https://mail.example.com/2fa/',
        trustedProxies: [],
        firstEnrolment: 'open',
      },
    });
    const origin = new URL(h.url).origin;
    const b = new Browser(`${origin}/2fa`); // a proxy that keeps the prefix
    const page = await b.get('/signin');
    expect(page.text).toContain('action="/2fa/signin"');
    expect(page.text).toContain('href="/2fa/static/portal.css"');
    const r = await b.signIn('bob@example.com');
    expect(r.headers.get('location')).toBe('/2fa/');
    expect(r.setCookies.find((c) => c.startsWith('mailgate_session='))).toMatch(/Path=\/2fa; HttpOnly; SameSite=Strict; Secure$/);
    const stripped = new Browser(origin); // a proxy that strips it
    stripped.cookies.set('mailgate_session', b.cookies.get('mailgate_session')!);
    expect((await stripped.get('/')).status).toBe(200);
  });

  it('serves HTTPS itself when given a certificate, with Secure cookies', async () => {
    const certs = await makeCerts(mkdtempSync(join(tmpdir(), 'portal-tls-')));
    h = await startHarness({ tls: { cert: readFileSync(certs.cert), key: readFileSync(certs.key) } });
    expect(h.url).toMatch(/^https:/);
    const b = new Browser(h.url, readFileSync(certs.caCert));
    const r = await b.signIn('bob@example.com');
    expect(r.setCookies.find((c) => c.startsWith('mailgate_session='))).toMatch(/; Secure$/);
    expect((await b.get('/')).status).toBe(200);
  });

  it("shares the mail fronts' brute-force guard: a blocked source is refused, and portal failures count there", async () => {
    const guard = new AuthGuard({ now: () => h.clock.now() }, { ...DEFAULT_GUARD, blockAfter: 3 });
    h = await startHarness({ guard: localGuard(guard) });
    const b = new Browser(h.url);
    for (const pw of ['a', 'b'])
      expect((await b.submit('/signin', { username: 'alice@example.com', password: pw }, '/signin')).status).toBe(400);
    guard.failure('127.0.0.1', 'alice@example.com', 'an-imap-guess'); // the third failure, over IMAP
    expect(guard.check('127.0.0.1', 'bob@example.com').kind).toBe('blocked');
    const r = await b.submit('/signin', { username: 'bob@example.com', password: 'bob-main-pw' }, '/signin');
    expect(r.status).toBe(429);
    expect(h.logins).not.toContain('bob@example.com'); // refused before asking the mail server
  });

  it('answers unknown pages and wrong methods plainly', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    expect((await b.get('/nope')).status).toBe(404);
    expect((await b.request('DELETE', '/signin')).status).toBe(405);
    expect((await b.get('/passcodes')).headers.get('location')).toBe('/signin');
    const css = await b.get('/static/portal.css');
    expect([css.status, css.headers.get('content-type')]).toEqual([200, 'text/css; charset=utf-8']);
  });
});
