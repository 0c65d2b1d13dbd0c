/**
 * The portal behind a reverse proxy, and its sign-in throttle under concurrency, against a real
 * Dovecot. Findings 5 and 6a of the security review:
 *  - behind a proxy every request comes from the proxy's address: without trusted X-Forwarded-For
 *    a few anonymous wrong sign-ins locked out every portal user and, through the shared guard,
 *    every IMAP client on the proxy host (the webmail);
 *  - the throttle was checked, the upstream awaited, the failure recorded after: 100 concurrent
 *    wrong passwords made 100 upstream checks; concurrent codes at the code step likewise.
 * 203.0.113.0/24 and 198.51.100.0/24 are documentation ranges: header values only, never contacted.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { createImapLogin, type ImapLogin } from '../../src/portal/index.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { Browser, csrfOf, enrol, startHarness, type Harness, type Res } from './portal-harness.js';

const ALICE = { user: 'alice@example.com', password: 'alice-main-pw' };
const BOB = { user: 'bob@example.com', password: 'bob-main-pw' };

/** One sign-in through "the proxy": the form from GET /signin, posted with X-Forwarded-For. */
async function signIn(b: Browser, user: string, password: string, xff: string): Promise<Res> {
  const page = await b.request('GET', '/signin', undefined, { 'x-forwarded-for': xff });
  return b.request('POST', '/signin', { _csrf: csrfOf(page.text), username: user, password }, { 'x-forwarded-for': xff });
}

async function imapLoginWorks(gate: Gate, user: string, pass: string): Promise<boolean> {
  const c = new ImapFlow({
    host: '127.0.0.1',
    port: gate.imapsPort,
    secure: true,
    tls: { ca: readFileSync(gate.ca) },
    auth: { user, pass },
    logger: false,
    disableAutoIdle: true,
  });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.logout();
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

describeInterop('portal behind a reverse proxy, and concurrent sign-ins', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate | null = null;
  let h: Harness | null = null;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [ALICE, BOB] });
  }, 30_000);
  afterEach(async () => {
    await gate?.close();
    gate = null;
    await h?.close();
    h = null;
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  /** mailgate with its portal; the shared guard blocks a source after 3 wrong passwords. */
  const start = (trusted: string[]) =>
    startGate(dovecot, {
      policy: { enforce: [] },
      portal: { listen: { host: '127.0.0.1', port: 0 }, trusted_proxies: trusted },
      auth: { throttle: { block_after: 3 } },
    });
  const portalUrl = (g: Gate) => `http://127.0.0.1:${g.server.portal!.address.port}`;

  it("finding 5: behind a trusted proxy, one client's wrong sign-ins block that client only", async () => {
    gate = await start(['127.0.0.1/32']);
    const attacker = new Browser(portalUrl(gate));
    // A client may prepend anything on the left; the proxy appends the address it saw.
    const xff = '127.0.0.1, 203.0.113.8, 203.0.113.7';
    const answers: number[] = [];
    for (const pw of ['guess-1', 'guess-2', 'guess-3', 'guess-4', 'guess-5'])
      answers.push((await signIn(attacker, ALICE.user, pw, xff)).status);
    expect(answers).toEqual([400, 400, 400, 429, 429]);
    const blocked = await signIn(attacker, ALICE.user, ALICE.password, xff); // even the right password waits
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(60);

    // Another client behind the same proxy, the same account: not affected.
    const user = new Browser(portalUrl(gate));
    const ok = await signIn(user, ALICE.user, ALICE.password, '203.0.113.8');
    expect([ok.status, ok.headers.get('location')]).toEqual([303, '/']);
    const sid = createHash('sha256').update(user.cookies.get('mailgate_session')!).digest('hex');
    expect((await gate.server.core.store.getPortalSession(sid))?.ip).toBe('203.0.113.8');

    // The proxy host itself (the webmail's IMAP logins come from it) is not blocked.
    expect((await gate.server.guard.blocks()).map((b) => b.source)).toEqual(['203.0.113.7']);
    expect(await imapLoginWorks(gate, BOB.user, BOB.password)).toBe(true);

    const audit = await gate.server.core.store.queryAudit({ type: 'portal.signin' });
    expect(audit.map((e) => [e.ip, e.reason])).toEqual([
      ...Array(3).fill(['203.0.113.7', 'wrong-password']),
      ...Array(3).fill(['203.0.113.7', 'throttled']),
      ['203.0.113.8', null],
    ]);
    expect((await gate.server.core.store.queryAudit({ type: 'abuse.block' })).map((e) => e.ip)).toEqual(['203.0.113.7']);
    // The portal's password check forwarded the client's address (ID x-originating-ip).
    expect(dovecot.log()).toMatch(/user=<alice@example\.com>.*rip=203\.0\.113\.7/);
    expect(dovecot.log()).toMatch(/user=<alice@example\.com>.*rip=203\.0\.113\.8/);
  }, 60_000);

  it('a spoofed X-Forwarded-For from a peer that is not a trusted proxy changes nothing', async () => {
    gate = await start(['10.9.9.9/32']); // proxies configured, but the test client is not one
    const b = new Browser(portalUrl(gate));
    const answers: number[] = [];
    for (const i of [1, 2, 3, 4]) answers.push((await signIn(b, ALICE.user, `guess-${i}`, `198.51.100.${i}`)).status);
    expect(answers).toEqual([400, 400, 400, 429]); // one source, whatever the header said
    expect((await signIn(new Browser(portalUrl(gate)), ALICE.user, ALICE.password, '198.51.100.99')).status).toBe(429);
    expect((await gate.server.guard.blocks()).map((x) => x.source)).toEqual(['127.0.0.1']);
    const audit = await gate.server.core.store.queryAudit({ type: 'portal.signin' });
    expect(new Set(audit.map((e) => e.ip))).toEqual(new Set(['127.0.0.1']));
    expect(dovecot.log()).not.toContain('rip=198.51.100.');
  }, 60_000);

  it('finding 6a: concurrent wrong sign-ins are throttled before the upstream is asked', async () => {
    const upstream = buildConfig(gateConfigDoc(dovecot, dovecot.dir), null).imap!.upstream;
    const check = createImapLogin(upstream);
    let checks = 0;
    // Dovecot's penalties for these failures land on a documentation address, not on 127.0.0.1.
    const counted: ImapLogin = (user, password) => {
      checks++;
      return check(user, password, '192.0.2.66');
    };
    h = await startHarness({ imapLogin: counted });
    const b = new Browser(h.url);
    const token = csrfOf((await b.get('/signin')).text);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => b.request('POST', '/signin', { _csrf: token, username: ALICE.user, password: `wrong-${i}` })),
    );
    const statuses = answers.map((r) => r.status);
    const refused = answers.filter((r) => r.status === 429);
    console.log(
      `finding 6a: ${checks} upstream checks, ${refused.length} × 429, ${statuses.filter((s) => s === 400).length} × 400, in ${Date.now() - started} ms`,
    );
    expect(checks).toBeLessThanOrEqual(5);
    expect(refused.length).toBeGreaterThanOrEqual(90);
    expect(statuses.every((s) => s === 400 || s === 429)).toBe(true);
    expect(refused.every((r) => Number(r.headers.get('retry-after')) >= 1)).toBe(true);
  }, 60_000);
});

describe('concurrent second-factor codes', () => {
  let h: Harness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  it('finding 6a: concurrent wrong codes at the code step are refused, not checked', async () => {
    h = await startHarness({ throttle: { baseDelayMs: 10_000 } });
    const b = new Browser(h.url);
    await enrol(b, h);
    await b.submit('/signout', {}, '/');
    expect((await b.signIn()).headers.get('location')).toBe('/verify');
    const token = csrfOf((await b.get('/verify')).text);
    // A database across the network (or a busy one) answers in milliseconds, not microseconds:
    // that is the window in which concurrent guesses all read "no failures yet".
    const getTotp = h.store.getTotp.bind(h.store);
    h.store.getTotp = async (account) => {
      await new Promise((r) => setTimeout(r, 30));
      return getTotp(account);
    };
    // 60 guesses of the 6-digit code at once: each one checked would be 60 tries per throttle step.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => b.request('POST', '/verify', { _csrf: token, code: String(100_000 + i * 7_919) })),
    );
    const checked = (await h.store.queryAudit({ username: 'alice@example.com', type: '2fa.verify' })).length;
    const statuses = answers.map((r) => r.status);
    console.log(`finding 6a (codes): ${checked} codes checked, ${statuses.filter((s) => s === 429).length} × 429`);
    expect(checked).toBeLessThanOrEqual(6); // the 5 free failures of the throttle, then one that imposes the wait
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(54);
  });
});
