/** The admin JSON API: bearer token required (and throttled), the CLI's verbs, no secrets out. */
import { afterEach, describe, expect, it } from 'vitest';
import { totpCode } from '../../src/core/totp.js';
import { ADMIN_TOKEN, Browser, csrfOf, enrol, manualKeyOf, startHarness, type Harness } from './portal-harness.js';

const ALICE = encodeURIComponent('alice@example.com');

describe('admin API', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.close();
  });

  const api = async (method: string, path: string, body?: unknown, token: string | null = ADMIN_TOKEN) => {
    const res = await fetch(`${h.url}/api/admin${path}`, {
      method,
      headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: JSON.parse(text) as Record<string, unknown> & unknown[] };
  };

  it('requires the bearer token, compares it exactly, and slows down guessing', async () => {
    h = await startHarness({ throttle: { baseDelayMs: 10_000 } });
    const none = await api('GET', '/accounts', undefined, null);
    expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="mailgate admin"']);
    expect((await api('GET', '/accounts', undefined, `${ADMIN_TOKEN}x`)).status).toBe(401);
    expect((await api('GET', '/accounts', undefined, ADMIN_TOKEN.slice(0, -1))).status).toBe(401);
    expect((await api('GET', '/accounts')).status).toBe(200);
    for (let i = 0; i < 30; i++) await api('GET', '/accounts', undefined, 'guess');
    const blocked = await api('GET', '/accounts'); // even the right token waits now
    expect(blocked.status).toBe(429);
    h.clock.t += 10_001;
    expect((await api('GET', '/accounts')).status).toBe(200);
    expect(h.logs()).not.toContain(ADMIN_TOKEN);
  });

  it('is off without a configured token', async () => {
    h = await startHarness({ admin: { token: null } });
    const r = await api('GET', '/accounts');
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ error: expect.stringContaining('admin.token') });
  });

  it('issues enrolment codes (first_enrolment: code); reset returns a new one; wrong codes are slowed down', async () => {
    h = await startHarness({
      portal: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: null, trustedProxies: [], firstEnrolment: 'code' },
    });
    const b = new Browser(h.url);
    await b.signIn();
    const tryEnable = async (enrolCode: string) => {
      const page = await b.get('/enable');
      return b.follow(
        await b.request('POST', '/enable', {
          _csrf: csrfOf(page.text),
          code: totpCode(manualKeyOf(page.text), h.clock.now()),
          enrol_code: enrolCode,
        }),
      );
    };
    for (let i = 0; i < 5; i++) expect((await tryEnable('abcd-efgh-jkmn')).status).toBe(400);
    const issued = await api('POST', `/accounts/${ALICE}/enrol-code`, { expires: '1d' });
    expect(issued.status).toBe(201);
    expect(issued.json).toEqual({
      code: expect.stringMatching(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/),
      expiresAt: h.clock.now() + 86_400_000,
    });
    expect((await tryEnable('abcd-efgh-jkmn')).status).toBe(400); // the 6th wrong one…
    const slowed = await tryEnable(issued.json.code as string); // …makes even the right one wait
    expect([slowed.status, slowed.text.includes('Too many wrong codes')]).toEqual([429, true]);
    h.clock.t += 2_001;
    expect((await tryEnable(issued.json.code as string)).text).toContain('Two-factor authentication is on');
    expect((await api('POST', `/accounts/${ALICE}/enrol-code`)).status).toBe(400); // 2FA is on now
    expect((await api('POST', `/accounts/${ALICE}/enrol-code`, { expires: 'never' })).status).toBe(400);
    const reset = await api('DELETE', `/accounts/${ALICE}/totp`);
    expect(reset.json).toMatchObject({
      removed: true,
      enrolCode: { code: expect.stringMatching(/^[a-z2-9-]{14}$/), expiresAt: h.clock.now() + 7 * 86_400_000 },
    });
    const audit = (await api('GET', '/audit?type=totp.enrol-code')).json as Array<{ outcome: string; detail: { actor: string } }>;
    expect(audit.map((e) => `${e.outcome}/${e.detail.actor}`)).toEqual([
      ...Array(5).fill('reject/portal'),
      'ok/api',
      'reject/portal',
      'accept/portal',
      'ok/api',
    ]);
    expect(JSON.stringify(audit) + h.logs()).not.toContain(issued.json.code as string);
  });

  it('lists, shows, enforces and releases accounts', async () => {
    h = await startHarness();
    expect((await api('GET', '/accounts')).json).toEqual([]);
    expect((await api('POST', `/accounts/${ALICE}/enforce`)).json).toMatchObject({
      username: 'alice@example.com',
      enforced: true,
      override: true,
      enforcedBy: 'admin',
    });
    expect((await api('POST', `/accounts/${ALICE}/enforce`, { enforced: false })).json).toMatchObject({
      enforced: false,
      override: false,
      enforcedBy: 'admin',
    });
    expect((await api('POST', `/accounts/${ALICE}/release`)).json).toMatchObject({ enforced: false, override: null, enforcedBy: null });
    const show = await api('GET', `/accounts/${ALICE}`);
    expect(show.json).toMatchObject({
      username: 'alice@example.com',
      twoFactor: { enabled: false, codesLeft: 0 },
      liveSessions: 0,
      passcodeList: [],
    });
    expect((await api('GET', '/accounts/%ZZ')).status).toBe(400);
    expect((await api('GET', '/nope')).status).toBe(404);
    expect((await api('PUT', '/accounts')).status).toBe(405);
    expect((await api('POST', `/accounts/${ALICE}/enforce`, undefined)).status).toBe(200);
    const badJson = await fetch(`${h.url}/api/admin/accounts/${ALICE}/enforce`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body: '{',
    });
    expect(badJson.status).toBe(400);
  });

  it('creates, lists and revokes passcodes; revoking ends live sessions', async () => {
    h = await startHarness();
    const created = await api('POST', `/accounts/${ALICE}/passcodes`, { name: 'Helpdesk phone', scopes: ['imap'], expires: '30d' });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      name: 'Helpdesk phone',
      scopes: ['imap'],
      status: 'active',
      expiresAt: h.clock.now() + 30 * 86_400_000,
    });
    const id = created.json.id as string;
    let closed = 0;
    h.sessions.register({
      id: 's',
      account: 'alice@example.com',
      passcodeId: id,
      protocol: 'imap',
      remoteIp: '::1',
      since: 0,
      close: () => {
        closed++;
      },
    });
    const list = await api('GET', `/accounts/${ALICE}/passcodes`);
    expect(list.json).toEqual([expect.objectContaining({ id, liveSessions: 1 })]);
    expect(list.text).not.toMatch(/"hash"|"tag"|passcode"/);
    expect((await api('POST', `/accounts/${ALICE}/passcodes`, { name: 'x', scopes: ['ftp'] })).status).toBe(400);
    expect((await api('POST', `/accounts/${ALICE}/passcodes`, { scopes: ['imap'] })).status).toBe(400);
    expect((await api('DELETE', `/accounts/${ALICE}/passcodes/${id}`)).json).toEqual({ revoked: true, sessionsClosed: 1 });
    expect(closed).toBe(1);
    expect((await api('DELETE', `/accounts/${ALICE}/passcodes/${id}`)).status).toBe(404);
  });

  it("changes a passcode's scopes (PATCH), ending its live sessions of a removed protocol", async () => {
    h = await startHarness();
    const id = (await api('POST', `/accounts/${ALICE}/passcodes`, { name: 'Laptop', scopes: ['imap', 'smtp'] })).json.id as string;
    const closed: string[] = [];
    for (const protocol of ['imap', 'smtp'] as const) {
      h.sessions.register({
        id: protocol,
        account: 'alice@example.com',
        passcodeId: id,
        protocol,
        remoteIp: '::1',
        since: 0,
        close: (r) => {
          closed.push(`${protocol}: ${r}`);
        },
      });
    }
    expect((await api('PATCH', `/accounts/${ALICE}/passcodes/${id}`, { scopes: ['smtp'] })).json).toEqual({
      updated: true,
      sessionsClosed: 1,
    });
    expect(closed).toEqual(['imap: passcode scope removed']);
    expect((await api('GET', `/accounts/${ALICE}/passcodes`)).json).toEqual([
      expect.objectContaining({ id, scopes: ['smtp'], liveSessions: 1 }),
    ]);
    expect((await api('PATCH', `/accounts/${ALICE}/passcodes/${id}`, { scopes: [] })).status).toBe(400);
    expect((await api('PATCH', `/accounts/${ALICE}/passcodes/${id}`, {})).status).toBe(400);
    expect((await api('PATCH', `/accounts/${ALICE}/passcodes/nope`, { scopes: ['imap'] })).status).toBe(404);
    expect((await api('GET', '/audit?type=passcode.scope')).json).toEqual([
      expect.objectContaining({ passcodeId: id, detail: { actor: 'api', scopes: ['smtp'], sessionsClosed: 1 } }),
    ]);
  });

  it('creates a passcode limited to networks, renames and re-limits it (PATCH); the listing shows the limits', async () => {
    h = await startHarness();
    const made = await api('POST', `/accounts/${ALICE}/passcodes`, { name: 'Office PC', allowedNetworks: ['192.0.2.0/24'] });
    expect(made.status).toBe(201);
    const id = made.json.id as string;
    expect(made.json).toMatchObject({ allowedNetworks: ['192.0.2.0/24'], unusedExpiresAt: null, status: 'active' });
    const patch = (body: unknown) => api('PATCH', `/accounts/${ALICE}/passcodes/${id}`, body);
    expect((await patch({ name: 'Front desk', allowedNetworks: ['198.51.100.7', '2001:db8::/32'] })).json).toEqual({
      updated: true,
      sessionsClosed: 0,
    });
    expect((await api('GET', `/accounts/${ALICE}/passcodes`)).json).toEqual([
      expect.objectContaining({ id, name: 'Front desk', allowedNetworks: ['198.51.100.7/32', '2001:db8::/32'] }),
    ]);
    const bad = await patch({ name: 'Never applied', allowedNetworks: ['not-a-net'] });
    expect([bad.status, bad.json.error]).toEqual([400, expect.stringContaining('"not-a-net"')]);
    expect((await patch({ allowedNetworks: null })).status).toBe(200);
    expect((await api('GET', `/accounts/${ALICE}/passcodes`)).json).toEqual([
      expect.objectContaining({ name: 'Front desk', allowedNetworks: null }),
    ]);
    expect(((await api('GET', '/audit?type=passcode.allow')).json as unknown[]).length).toBe(2);
    expect((await api('GET', '/audit?type=passcode.rename')).json).toEqual([
      expect.objectContaining({ passcodeId: id, detail: { actor: 'api', name: 'Front desk' } }),
    ]);
  });

  it('resets TOTP (ending portal sessions), regenerates emergency codes, and queries the audit log', async () => {
    h = await startHarness();
    const b = new Browser(h.url);
    await enrol(b, h);
    const codes = await api('POST', `/accounts/${ALICE}/emergency-codes`);
    expect(codes.status).toBe(201);
    expect(codes.json.codes).toHaveLength(10);
    expect((await api('GET', `/accounts/${ALICE}`)).json).toMatchObject({
      twoFactor: { enabled: true, codesLeft: 10 },
      enforced: true,
      enforcedBy: 'portal',
    });
    expect((await api('GET', '/accounts')).json).toEqual([
      expect.objectContaining({ username: 'alice@example.com', enforcedBy: 'portal' }),
    ]);
    expect((await api('DELETE', `/accounts/${ALICE}/totp`)).json).toEqual({ removed: true, portalSessionsEnded: 1 });
    expect((await b.get('/')).headers.get('location')).toBe('/signin?notice=expired');
    expect((await api('GET', `/accounts/${ALICE}`)).json).toMatchObject({ twoFactor: { enabled: false, codesLeft: 0 }, enforced: true });
    expect((await api('POST', `/accounts/${ALICE}/emergency-codes`)).status).toBe(400);

    const all = (await api('GET', '/audit?user=Alice@Example.com')).json as Array<{ type: string; id: number; detail: { actor: string } }>;
    expect(all.map((e) => e.type)).toEqual([
      'portal.signin',
      'totp.enable',
      'account.enforce',
      'codes.generate',
      'codes.generate',
      'totp.reset',
    ]);
    expect(all.at(-1)!.detail.actor).toBe('api');
    const codesOnly = (await api('GET', '/audit?type=codes.generate&limit=1')).json as Array<{ detail: { actor: string } }>;
    expect(codesOnly).toHaveLength(1);
    expect(codesOnly[0]!.detail.actor).toBe('api');
    expect((await api('GET', `/audit?after=${all[3]!.id}`)).json).toHaveLength(2);
    expect((await api('GET', `/audit?since=${new Date(h.clock.now() + 1).toISOString()}`)).json).toEqual([]);
    expect((await api('GET', '/audit?limit=abc')).status).toBe(400);
    expect(JSON.stringify(all)).not.toContain((codes.json.codes as string[])[0]!);
  });
});
