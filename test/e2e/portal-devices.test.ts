/**
 * One-step device setup over HTTP: the Apple profile offered with a new passcode (read back with
 * Python's plistlib, as a second implementation of the format), Thunderbird's autoconfig (read
 * with xml.etree) for served domains only and without a secret, the favicon, and forms that act
 * once when posted twice.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { Identity } from '../../src/core/identity.js';
import { Browser, csrfOf, enrol, startHarness, type Harness } from './portal-harness.js';

const ALICE = 'alice@example.com';
const python = (script: string, input: string): unknown => JSON.parse(execFileSync('python3', ['-c', script], { input, encoding: 'utf8' }));

const PLIST = `import plistlib, sys, json
p = plistlib.loads(sys.stdin.buffer.read())
print(json.dumps({'type': p['PayloadType'], 'accounts': p['PayloadContent']}))`;

const AUTOCONFIG = `import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.buffer.read())
prov = root.find('emailProvider')
out = {'id': prov.get('id'), 'servers': []}
for s in list(prov.iter('incomingServer')) + list(prov.iter('outgoingServer')):
    out['servers'].append({'type': s.get('type'), **{c.tag: c.text for c in s}})
print(json.dumps(out))`;

describe('portal device setup', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  it('offers an Apple profile with the servers, ports, user and passcode, downloadable once', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    await enrol(b, h);
    const posted = await b.submit('/passcodes', { name: 'iPhone', scopes: ['imap', 'smtp'], expiry: 'never' });
    const shown = posted.headers.get('location')!;
    expect(shown).toMatch(/^\/passcodes\/new\?r=/);
    const created = await b.get(shown);
    const passcode = /id="passcode">([a-z ]{19})</.exec(created.text)![1]!;
    const href = /id="profile" href="([^"]+)"/.exec(created.text)![1]!.replace(/&#38;/g, '&').replace(/&#61;/g, '=');
    const profile = await b.get(href);
    expect([profile.status, profile.headers.get('content-type')]).toEqual([200, 'application/x-apple-aspen-config']);
    expect(profile.headers.get('content-disposition')).toBe('attachment; filename="alice@example.com.mobileconfig"');
    const parsed = python(PLIST, profile.text) as { type: string; accounts: Record<string, unknown>[] };
    expect(parsed.type).toBe('Configuration');
    expect(parsed.accounts).toHaveLength(1);
    expect(parsed.accounts[0]).toMatchObject({
      PayloadType: 'com.apple.mail.managed',
      EmailAccountType: 'EmailTypeIMAP',
      EmailAddress: ALICE,
      IncomingMailServerHostName: 'mail.example.com',
      IncomingMailServerPortNumber: 993,
      IncomingMailServerUseSSL: true,
      IncomingMailServerUsername: ALICE,
      IncomingPassword: passcode.replace(/ /g, ''),
      OutgoingMailServerHostName: 'mail.example.com',
      OutgoingMailServerPortNumber: 587,
      OutgoingMailServerUsername: ALICE,
      OutgoingPassword: passcode.replace(/ /g, ''),
    });
    expect((await b.get(href)).status).toBe(410); // the passcode is handed out once
    const reload = await b.get(shown);
    expect(reload.text).toContain('was shown once');
    expect(reload.text).not.toContain(passcode);
  });

  it('serves Thunderbird autoconfig for served domains only, without any secret', async () => {
    h = await startHarness({ identity: new Identity({ defaultDomain: 'example.com', domains: ['example.com'] }) });
    for (const path of ['/.well-known/autoconfig/mail/config-v1.1.xml', '/mail/config-v1.1.xml']) {
      const r = await new Browser(h.url).get(`${path}?emailaddress=${encodeURIComponent(ALICE)}`);
      expect([r.status, r.headers.get('content-type')]).toEqual([200, 'application/xml; charset=utf-8']);
      expect(python(AUTOCONFIG, r.text)).toEqual({
        id: 'example.com',
        servers: [
          {
            type: 'imap',
            hostname: 'mail.example.com',
            port: '993',
            socketType: 'SSL',
            username: '%EMAILADDRESS%',
            authentication: 'password-cleartext',
          },
          {
            type: 'smtp',
            hostname: 'mail.example.com',
            port: '587',
            socketType: 'STARTTLS',
            username: '%EMAILADDRESS%',
            authentication: 'password-cleartext',
          },
        ],
      });
      expect(r.text).not.toMatch(/password<|passcode|[a-z]{4} [a-z]{4} [a-z]{4}/i);
    }
    const other = await new Browser(h.url).get('/mail/config-v1.1.xml?emailaddress=eve@other.example');
    expect(other.status).toBe(404);
    const icon = await new Browser(h.url).get('/favicon.ico');
    expect([icon.status, icon.headers.get('content-type'), icon.text.startsWith('<svg')]).toEqual([200, 'image/svg+xml', true]);
  });

  it('warns before 2FA breaks mail apps, links the key to an authenticator app, and shows the brand', async () => {
    h = await startHarness({
      portal: {
        listen: { host: '127.0.0.1', port: 0 },
        publicUrl: null,
        trustedProxies: [],
        firstEnrolment: 'open',
        brand: { name: 'Example Mail security', logoUrl: 'https://cdn.example.com/logo.svg' },
      },
    });
    const b = new Browser(h.url);
    await b.signIn();
    const page = await b.get('/enable');
    expect(page.text).toContain('stop working until each one gets its own app passcode');
    expect(page.text).toMatch(/<a href="otpauth:\/\/totp\/[^"]+secret&#61;[A-Z2-7]+[^"]*">Open in your authenticator app<\/a>/);
    expect(page.text).toContain('<title>Turn on two-factor authentication – Example Mail security</title>');
    expect(page.text).toContain('<img src="https://cdn.example.com/logo.svg" alt="" height="28">Example Mail security</a>');
    // The logo's origin, and only it, joins img-src.
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data: https://cdn.example.com;");
  });

  it('acts once when a form is posted twice: one passcode, one code set, one revocation', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    const { codes } = await enrol(b, h);
    const page = await b.get('/passcodes');
    const form = { _csrf: csrfOf(page.text), _once: /name="_once" value="([^"]+)"/.exec(page.text)![1]!, name: 'Outlook', scopes: 'imap' };
    const [r1, r2] = await Promise.all([b.request('POST', '/passcodes', form), b.request('POST', '/passcodes', form)]);
    expect([r1.status, r2.status]).toEqual([303, 303]);
    expect(await h.manager.listPasscodes(ALICE)).toHaveLength(1);
    // Each answer has its own one-time page (the browser may fetch one and drop it); both show the one passcode.
    const shownBy = async (r: { headers: Map<string, string> }) => {
      const page = await b.get(r.headers.get('location')!);
      return /id="passcode">([a-z ]{19})</.exec(page.text)?.[1];
    };
    const [p1, p2] = [await shownBy(r1), await shownBy(r2)];
    expect(p1).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
    expect(p2).toBe(p1);
    expect(await shownBy(r1)).toBeUndefined(); // a reload: shown once

    const before = await h.store.listEmergencyCodes(ALICE);
    const codesPage = await b.get('/codes');
    const renew = { _csrf: csrfOf(codesPage.text), _once: /name="_once" value="([^"]+)"/.exec(codesPage.text)![1]! };
    const [c1, c2] = await Promise.all([b.request('POST', '/codes', renew), b.request('POST', '/codes', renew)]);
    const codesOf = async (r: { headers: Map<string, string> }) =>
      [...(await b.get(r.headers.get('location')!)).text.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]);
    const fresh = await codesOf(c1);
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(codes[0]);
    expect(await codesOf(c2)).toEqual(fresh); // the same set: made once
    const after = await h.store.listEmergencyCodes(ALICE);
    expect(after).not.toEqual(before);
    expect((await b.get(c1.headers.get('location')!)).text).toContain('were shown once'); // a reload makes no new set
    expect(await h.store.listEmergencyCodes(ALICE)).toEqual(after);

    const [pc] = await h.manager.listPasscodes(ALICE);
    const confirm = await b.get(`/revoke?id=${pc!.id}`);
    const revoke = { _csrf: csrfOf(confirm.text), _once: /name="_once" value="([^"]+)"/.exec(confirm.text)![1]!, id: pc!.id };
    const [v1, v2] = await Promise.all([b.request('POST', '/revoke', revoke), b.request('POST', '/revoke', revoke)]);
    // Both answers name the revoked passcode (a second real revoke would find nothing and say nothing).
    expect([v1.headers.get('location'), v2.headers.get('location')]).toEqual([
      `/passcodes?notice=revoked&closed=0&id=${pc!.id}`,
      `/passcodes?notice=revoked&closed=0&id=${pc!.id}`,
    ]);
    const list = await b.get(v2.headers.get('location')!);
    expect(list.text).toContain('Passcode “<strong class="name">Outlook</strong>” revoked');
    expect(list.text).toMatch(/Revoked <time datetime="[^"]+">/);
  });
});
