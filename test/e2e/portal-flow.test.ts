/**
 * The user's journey through the portal at the HTTP level: enrol, sign in with TOTP and with an
 * emergency code, create/list/revoke passcodes, renew codes, turn 2FA off — and afterwards no
 * secret in the logs, the store or any later page.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/core/totp.js';
import { Browser, csrfOf, enrol, manualKeyOf, PASSWORDS, startHarness, type Harness } from './portal-harness.js';

const ALICE = 'alice@example.com';

describe('portal user journey', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('enrols, signs in with TOTP, creates and revokes a passcode; no secret leaks anywhere', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const first = await b.signIn();
    expect(first.headers.get('location')).toBe('/'); // no 2FA yet: straight in
    expect((await b.get('/')).text).toContain('Turn on two-factor authentication');
    expect((await b.get('/passcodes')).headers.get('location')).toBe('/?notice=need-2fa');

    const enable = await b.get('/enable');
    expect(enable.text).toMatch(/<svg aria-hidden="true"/);
    expect(enable.text).toMatch(/role="img" aria-label="QR code/);
    const secret = manualKeyOf(enable.text);
    expect(manualKeyOf((await b.get('/enable')).text)).toBe(secret); // a reload keeps the key being scanned
    const wrong = await b.request('POST', '/enable', { _csrf: csrfOf(enable.text), code: '123456' });
    expect([wrong.status, wrong.text.includes('That code did not work')]).toEqual([400, true]);
    expect((await h.store.getAccount(ALICE))?.enforced ?? null).toBeNull(); // nothing changed yet
    const done = await b.follow(await b.request('POST', '/enable', { _csrf: csrfOf(enable.text), code: totpCode(secret, h.clock.now()) }));
    expect(done.text).toContain('Two-factor authentication is on');
    const codes = [...done.text.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    expect((await h.store.getAccount(ALICE))?.enforced).toBe(true);

    await b.submit('/signout', {}, '/');
    expect((await b.get('/')).headers.get('location')).toBe('/signin');
    expect((await b.signIn()).headers.get('location')).toBe('/verify');
    h.clock.t += 30_000;
    expect((await b.submit('/verify', { code: totpCode(secret, h.clock.now()) })).headers.get('location')).toBe('/');

    const created = await b.follow(await b.submit('/passcodes', { name: 'Thunderbird laptop', scopes: ['imap', 'smtp'], expiry: '90' }));
    const passcode = /id="passcode">([a-z ]{19})</.exec(created.text)?.[1];
    expect(passcode).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
    expect(created.text).toContain('mail.example.com, port 993, SSL/TLS');
    expect(created.text).toContain('mail.example.com, port 587, STARTTLS');
    for (const app of ['Thunderbird', 'Outlook', 'Apple Mail']) expect(created.text).toContain(`<summary>${app}`);
    const [pc] = await h.manager.listPasscodes(ALICE);
    expect(pc).toMatchObject({ name: 'Thunderbird laptop', scopes: ['imap', 'smtp'], expiresAt: h.clock.now() + 90 * 86_400_000 });

    // A live IMAP session opened with it shows in the list and is ended by revoking.
    let closed = '';
    h.sessions.register({
      id: 's1',
      account: ALICE,
      passcodeId: pc!.id,
      protocol: 'imap',
      remoteIp: '192.0.2.7',
      since: h.clock.now(),
      close: (r) => {
        closed = r;
      },
    });
    await h.store.recordPasscodeUse(pc!.id, h.clock.now(), '192.0.2.7', 'Thunderbird/128.3');
    const list = await b.get('/passcodes');
    expect(list.text).toContain('Thunderbird laptop');
    expect(list.text).toContain('from 192.0.2.7');
    expect(list.text).toContain('Thunderbird/128.3');
    expect(list.text).toContain('1 open connection');
    expect(list.text).not.toContain(passcode!);
    const confirm = await b.get(`/revoke?id=${pc!.id}`);
    expect(confirm.text).toContain('1 open connection is');
    const revoked = await b.request('POST', '/revoke', { _csrf: csrfOf(confirm.text), id: pc!.id });
    expect(revoked.headers.get('location')).toBe(`/passcodes?notice=revoked&closed=1&id=${pc!.id}`);
    expect(closed).toBe('passcode revoked');
    expect((await b.get(`/passcodes?notice=revoked&closed=1&id=${pc!.id}`)).text).toContain('1 open connection was closed');

    // Nothing secret anywhere after the fact.
    const secrets = [
      PASSWORDS[ALICE]!,
      secret,
      passcode!.replace(/ /g, ''),
      passcode!,
      ...codes,
      ...codes.map((c) => c.replace('-', '')),
      b.cookies.get('mailgate_session')!,
    ];
    const dump = JSON.stringify([
      await h.store.queryAudit({ limit: 1000 }),
      await h.store.getTotp(ALICE),
      await h.store.listEmergencyCodes(ALICE),
      await h.manager.listPasscodes(ALICE),
    ]);
    const pages = (await Promise.all(['/', '/passcodes', '/codes', '/enable'].map((p) => b.get(p)))).map((r) => r.text).join('');
    for (const s of secrets) {
      expect(h.logs()).not.toContain(s);
      expect(dump).not.toContain(s);
      expect(pages).not.toContain(s);
    }
  });

  it('takes each emergency code once, warns when they run low, and renews the set', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const { codes } = await enrol(b, h);
    await b.submit('/signout', {}, '/');
    await b.signIn();
    const used = await b.submit('/verify', { code: codes[0]!.toUpperCase() });
    expect(used.headers.get('location')).toBe('/?notice=emergency&left=9');
    expect((await b.get('/?notice=emergency&left=9')).text).toContain('You signed in with an emergency code');
    await b.submit('/signout', {}, '/');
    await b.signIn();
    const again = await b.submit('/verify', { code: codes[0]! });
    expect([again.status, again.text.includes('already used')]).toEqual([400, true]);
    expect((await b.submit('/verify', { code: codes[1]! })).status).toBe(303);

    const renewed = await b.follow(await b.submit('/codes', {}));
    const fresh = [...renewed.text.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]!);
    expect(fresh).toHaveLength(10);
    expect(renewed.text).toContain('Your old emergency codes no longer work');
    expect(renewed.text).toMatch(/href="data:text\/plain;charset=utf-8,[^"]+" download="emergency-codes-alice@example.com.txt"/);
    await b.submit('/signout', {}, '/');
    await b.signIn();
    expect((await b.submit('/verify', { code: codes[2]! })).status).toBe(400);
    expect((await b.submit('/verify', { code: fresh[0]! })).status).toBe(303);
  });

  it('turns 2FA off with a current code, unless the admin policy requires it', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const { secret } = await enrol(b, h);
    h.policy.enforce = ['example.com'];
    const refused = await b.get('/disable');
    expect(refused.text).toContain('requires two-factor authentication for this account');
    expect(refused.text).not.toContain('name="code"');
    h.clock.t += 30_000;
    expect((await b.request('POST', '/disable', { _csrf: csrfOf(refused.text), code: totpCode(secret, h.clock.now()) })).status).toBe(400);
    h.policy.enforce = [];
    const page = await b.get('/disable');
    expect(page.text).toContain('app passcodes stop working');
    expect((await b.request('POST', '/disable', { _csrf: csrfOf(page.text), code: '000000' })).status).toBe(400);
    const off = await b.request('POST', '/disable', { _csrf: csrfOf(page.text), code: totpCode(secret, h.clock.now()) });
    expect(off.headers.get('location')).toBe('/?notice=2fa-off');
    expect((await h.store.getAccount(ALICE))?.enforced).toBeNull();
    await b.submit('/signout', {}, '/');
    expect((await b.signIn()).headers.get('location')).toBe('/'); // password alone again
  });

  it('moves 2FA to a new phone: the old app works until the new one is confirmed', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const { secret: old } = await enrol(b, h);
    const page = await b.get('/enable');
    expect(page.text).toContain('Move to a new phone');
    const fresh = /id="manual-key">([A-Z2-7 ]+)</.exec(page.text)![1]!.replace(/ /g, '');
    expect(fresh).not.toBe(old);
    h.clock.t += 30_000;
    const r = await b.request('POST', '/enable', { _csrf: csrfOf(page.text), code: totpCode(fresh, h.clock.now()) });
    expect(r.headers.get('location')).toBe('/?notice=phone-changed');
    await b.submit('/signout', {}, '/');
    await b.signIn();
    h.clock.t += 30_000;
    expect((await b.submit('/verify', { code: totpCode(old, h.clock.now()) })).status).toBe(400);
    expect((await b.submit('/verify', { code: totpCode(fresh, h.clock.now()) })).status).toBe(303);
  });

  it('says clearly when the mail server cannot check the password', async () => {
    h = await startHarness({
      imapLogin: async () => {
        throw new Error('ECONNREFUSED');
      },
    });
    const r = await new Browser(h.url).signIn();
    expect(r.status).toBe(503);
    expect(r.text).toContain('The mail server cannot be reached');
  });
});
