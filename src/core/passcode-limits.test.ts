/**
 * Per-passcode limits (issue 14 part 5) on the real SQLite store with an injected clock: the CIDR
 * allowlist, expiry for want of use with its warning a week before, rename.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticate.js';
import { VerifiedCache } from './cache.js';
import { NetworkSet } from './enforcement.js';
import { AuthGuard, DEFAULT_GUARD } from './guard.js';
import { localGuard } from './guard-port.js';
import { Identity } from './identity.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { buildNotification } from './notify.js';
import { parseNetworks } from './passcode-limits.js';
import { SessionRegistry } from './sessions.js';
import type { AuthRequest, Hasher } from './types.js';
import { sweepUnusedPasscodes } from './unused-expiry.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import { rolloutReport } from './rollout-report.js';
import type { Store } from '../store/types.js';

const DAY = 86_400_000;
const hasher: Hasher = { hash: async (s) => `h:${s}`, verify: async (s, h) => h === `h:${s}`, close: async () => {} };
const U = 'alice@example.com';

describe('parseNetworks', () => {
  it('normalises a typed list and refuses anything else, naming the bad entry', () => {
    expect(parseNetworks(['192.0.2.0/24, 2001:DB8::/32', '198.51.100.7'])).toEqual(['192.0.2.0/24', '2001:db8::/32', '198.51.100.7/32']);
    expect(() => parseNetworks(['192.0.2.0/33'])).toThrow(/"192.0.2.0\/33"/);
    expect(() => parseNetworks(['example.com'])).toThrow(/not a network/);
    expect(() => parseNetworks(['10.0.0.0/8/1'])).toThrow(/not a network/);
    expect(() => parseNetworks([' , '])).toThrow(/at least one/);
  });
});

describe('per-passcode limits', () => {
  const keys = deriveKeys(Buffer.alloc(32, 5));
  let now: number;
  const clock = { now: () => now };
  let store: Store;
  let sessions: SessionRegistry;
  const setup = (expireUnusedMs: number | null) => {
    const policy = { enforce: ['example.com'] };
    const cache = new VerifiedCache(keys.cache, 60_000, clock);
    const guard = new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 1000 });
    const exempt = new NetworkSet([]);
    const identity = new Identity();
    const auth = createAuthenticator({
      store,
      hasher,
      keys,
      policy,
      exempt,
      cache,
      clock,
      guard: localGuard(guard),
      identity,
      expireUnusedMs,
    });
    const manager = createManager({ store, hasher, keys, clock, random: randomBytes, policy, cache, sessions, identity, expireUnusedMs });
    return { auth, manager };
  };
  const req = (secret: string, remoteIp = '192.0.2.5'): AuthRequest => ({ user: U, secret, protocol: 'imap', remoteIp });

  beforeEach(async () => {
    now = 1_700_000_000_000;
    store = await openSqliteStore(':memory:');
    sessions = new SessionRegistry();
  });

  it('a CIDR allowlist: accepted from inside, refused from outside with the plain failure, audited with its reason', async () => {
    const { auth, manager } = setup(null);
    const p = await manager.createPasscode(U, { name: 'office', scopes: ['imap'], allowedNetworks: ['192.0.2.0/24'] });
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'accept-passcode' });
    const outside = await auth.authenticate(req(p.passcode, '198.51.100.7'));
    expect(outside).toMatchObject({ kind: 'reject', reason: 'network-not-allowed' });
    expect(outside).not.toHaveProperty('hint');
    await new Promise((r) => setTimeout(r, 10));
    const audit = await store.queryAudit({ type: 'auth' });
    expect(audit.at(-1)).toMatchObject({ outcome: 'reject', reason: 'network-not-allowed', ip: '198.51.100.7', passcodeId: p.info.id });
    // Widened, then lifted: from anywhere again.
    expect(await manager.setPasscodeNetworks(U, p.info.id, ['198.51.100.0/24'])).toEqual({ updated: true, sessionsClosed: 0 });
    expect(await auth.authenticate(req(p.passcode, '198.51.100.7'))).toMatchObject({ kind: 'accept-passcode' });
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ reason: 'network-not-allowed' });
    await manager.setPasscodeNetworks(U, p.info.id, null);
    expect(await auth.authenticate(req(p.passcode, '203.0.113.1'))).toMatchObject({ kind: 'accept-passcode' });
  });

  it('revoking counts the sessions of every worker (serve --workers): its own closed, the others from their counts', async () => {
    const { manager } = setup(null);
    const p = await manager.createPasscode(U, { name: 'phone', scopes: ['imap'] });
    const closed: string[] = [];
    sessions.register({
      id: 's1',
      account: U,
      passcodeId: p.info.id,
      protocol: 'imap',
      remoteIp: '192.0.2.9',
      since: now,
      close: (why) => closed.push(why),
    });
    // Two more sessions with this passcode live in other workers (their watchers end them).
    sessions.setRemote({ count: (f) => (f.passcodeId === p.info.id ? 2 : 0) });
    expect(await manager.revokePasscode(U, p.info.id)).toEqual({ revoked: true, sessionsClosed: 3 });
    expect(closed).toEqual(['passcode revoked']);
  });

  it('limiting a passcode ends its live sessions from elsewhere only; rename keeps everything else', async () => {
    const { manager } = setup(null);
    const p = await manager.createPasscode(U, { name: 'phone', scopes: ['imap'] });
    const closed: string[] = [];
    for (const [id, ip] of [
      ['s-in', '192.0.2.9'],
      ['s-out', '198.51.100.9'],
    ] as const)
      sessions.register({
        id,
        account: U,
        passcodeId: p.info.id,
        protocol: 'imap',
        remoteIp: ip,
        since: now,
        close: (why) => closed.push(`${id} ${why}`),
      });
    expect(await manager.setPasscodeNetworks(U, p.info.id, ['192.0.2.0/24'])).toEqual({ updated: true, sessionsClosed: 1 });
    expect(closed).toEqual(['s-out passcode network removed']);
    expect(await manager.renamePasscode(U, p.info.id, '  Work phone ')).toEqual({ updated: true });
    expect((await manager.listPasscodes(U))[0]).toMatchObject({ name: 'Work phone', allowedNetworks: ['192.0.2.0/24'], status: 'active' });
    await expect(manager.renamePasscode(U, p.info.id, ' ')).rejects.toThrow(/name of 1 to 100/);
    await expect(manager.setPasscodeNetworks(U, p.info.id, ['nowhere'])).rejects.toThrow(/not a network/);
    expect((await store.queryAudit({})).map((e) => e.type)).toEqual(['passcode.create', 'passcode.allow', 'passcode.rename']);
  });

  it('expire_unused: use keeps a passcode alive; unused for the whole period it is refused as expired', async () => {
    const { auth, manager } = setup(180 * DAY);
    const p = await manager.createPasscode(U, { name: 'tablet', scopes: ['imap'] });
    now += 179 * DAY;
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'accept-passcode' }); // the clock restarts here
    now += 179 * DAY;
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'accept-passcode' });
    expect((await manager.listPasscodes(U))[0]).toMatchObject({ status: 'active', unusedExpiresAt: now + 180 * DAY });
    now += 180 * DAY;
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'reject', reason: 'expired', hint: 'needs-passcode' });
    expect((await manager.listPasscodes(U))[0]?.status).toBe('expired');
  });

  it('the sweep warns once a week before (a notice the owner gets), re-arms after a use, and makes the lapse final', async () => {
    const { auth, manager } = setup(180 * DAY);
    const created = now;
    const p = await manager.createPasscode(U, { name: 'old phone', scopes: ['imap'] });
    const sweep = () => sweepUnusedPasscodes({ store, clock, expireUnusedMs: 180 * DAY });
    now = created + 172 * DAY;
    expect(await sweep()).toEqual({ warned: 0, expired: 0 });
    now = created + 173 * DAY + 1;
    expect(await sweep()).toEqual({ warned: 1, expired: 0 });
    expect(await sweep()).toEqual({ warned: 0, expired: 0 }); // once per stretch of non-use
    const warning = (await store.queryAudit({ type: 'passcode.unused-expiring' }))[0]!;
    expect(warning).toMatchObject({
      username: U,
      passcodeId: p.info.id,
      detail: { name: 'old phone', unusedExpiresAt: created + 180 * DAY },
    });
    const notice = buildNotification(warning, { from: null, portalUrl: 'https://mail.example.com/2fa' });
    expect(notice?.subject).toBe('[mailgate] An app passcode you have not used will expire in a week');
    expect(notice?.message).toContain('"old phone"');
    expect(notice?.message).toContain('sign in at https://mail.example.com/2fa');
    expect(notice?.message).not.toContain('someone may know your main password');

    now += DAY;
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'accept-passcode' }); // used: re-armed
    const used = now;
    now = used + 174 * DAY;
    expect(await sweep()).toEqual({ warned: 1, expired: 0 });
    now = used + 180 * DAY;
    expect(await sweep()).toEqual({ warned: 0, expired: 1 });
    expect((await store.getPasscode(p.info.id))?.expiresAt).toBe(used + 180 * DAY);
    // Final even with the setting turned off afterwards.
    expect(await setup(null).auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'reject', reason: 'expired' });
    expect(await sweep()).toEqual({ warned: 0, expired: 0 });
  });

  it('the rollout report counts a passcode past its unused deadline as not active, as logins and the manager do', async () => {
    const { auth, manager } = setup(30 * DAY);
    const p = await manager.createPasscode(U, { name: 'old phone', scopes: ['imap'] });
    const report = () => rolloutReport({ store, policy: { enforce: ['example.com'] }, clock, expireUnusedMs: 30 * DAY });
    expect((await report()).accounts[0]).toMatchObject({ account: U, activePasscodes: 1 });
    now += 31 * DAY;
    expect(await auth.authenticate(req(p.passcode))).toMatchObject({ kind: 'reject', reason: 'expired' });
    expect((await manager.listPasscodes(U))[0]).toMatchObject({ status: 'expired' });
    expect((await report()).accounts[0]).toMatchObject({ account: U, activePasscodes: 0 });
  });
});
