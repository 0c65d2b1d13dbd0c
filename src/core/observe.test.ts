import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator, type Authenticator } from './authenticate.js';
import { VerifiedCache } from './cache.js';
import { NetworkSet } from './enforcement.js';
import { AuthGuard, DEFAULT_GUARD } from './guard.js';
import { localGuard } from './guard-port.js';
import { Identity } from './identity.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { buildNotification } from './notify.js';
import { createObserver, type Observer } from './observe.js';
import type { RolloutEntry } from './rollout.js';
import type { AuthRequest, Hasher } from './types.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

const DATE = 1_800_000_000_000;
const keys = deriveKeys(Buffer.alloc(32, 7));
const hasher: Hasher = { hash: async (s) => `h:${s}`, verify: async (s, h) => h === `h:${s}`, close: async () => {} };
const policy: { enforce: RolloutEntry[] } = {
  enforce: [
    { target: 'example.net', mode: 'enforce', from: DATE },
    { target: 'example.org', mode: 'observe', from: null },
    { target: 'example.com', mode: 'enforce', from: null },
  ],
};
const req = (user: string, secret: string, over: Partial<AuthRequest> = {}): AuthRequest => ({
  user,
  secret,
  protocol: 'imap',
  remoteIp: '192.0.2.1',
  clientId: 'Thunderbird 115',
  ...over,
});

describe('observe mode in the authenticator', () => {
  let now: number;
  let store: Store;
  let auth: Authenticator;
  let observer: Observer;
  let errors: string[];
  const clock = { now: () => now };

  beforeEach(async () => {
    now = DATE - 86_400_000;
    errors = [];
    store = await openSqliteStore(':memory:');
    observer = createObserver({ store, clock, notices: true, onError: (e, a) => errors.push(`${a}: ${e.message}`) });
    auth = createAuthenticator({
      store,
      hasher,
      keys,
      policy,
      exempt: new NetworkSet(['10.0.0.5/32']),
      cache: new VerifiedCache(keys.cache, 60_000, clock),
      clock,
      guard: localGuard(new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 1000 })),
      identity: new Identity(),
      observer,
    });
  });
  afterEach(async () => {
    await observer.idle();
    await store.close();
  });

  /** A login the upstream accepted (the front calls recordUpstreamResult after it). */
  const upstreamOk = async (r: AuthRequest) => {
    const d = await auth.authenticate(r);
    if (d.kind === 'passthrough') auth.recordUpstreamResult(r, true);
    await observer.idle();
    return d;
  };

  it('before the date the main password passes through and is recorded; from the date it is refused', async () => {
    expect(await upstreamOk(req('alice@example.net', 'alice-main-pw'))).toEqual({
      kind: 'passthrough',
      account: 'alice@example.net',
      reason: 'observe',
    });
    now += 1000;
    await upstreamOk(req('Alice@Example.net', 'alice-main-pw'));
    expect(await store.listObservations()).toEqual([
      {
        username: 'alice@example.net',
        protocol: 'imap',
        client: 'Thunderbird 115',
        ip: '192.0.2.1',
        firstSeen: now - 1000,
        lastSeen: now,
        count: 2,
      },
    ]);
    now = DATE;
    expect(await auth.authenticate(req('alice@example.net', 'alice-main-pw'))).toMatchObject({ kind: 'reject', reason: 'not-a-passcode' });
    expect(errors).toEqual([]);
  });

  it('a login the upstream refused, an unlisted account and an exempt network are not would-break', async () => {
    const r = req('bob@example.org', 'wrong-pw');
    expect(await auth.authenticate(r)).toMatchObject({ kind: 'passthrough', reason: 'observe' });
    auth.recordUpstreamResult(r, false, 'NO');
    await upstreamOk(req('carol@elsewhere.test', 'pw'));
    await upstreamOk(req('dave@example.org', 'pw', { remoteIp: '10.0.0.5' }));
    expect(await store.listObservations()).toEqual([]);
  });

  it("observing, the account's passcode already works (apps can move before the date) and is not recorded", async () => {
    const manager = createManager({ store, hasher, keys, clock, random: randomBytes, policy, identity: new Identity() });
    const p = await manager.createPasscode('erin@example.org', { name: 'phone', scopes: ['imap'] });
    expect(await upstreamOk(req('erin@example.org', p.formatted))).toMatchObject({ kind: 'accept-passcode', passcodeId: p.info.id });
    // Out of scope: not usable as a passcode, so it goes upstream as a password (and fails there).
    expect(await auth.authenticate(req('erin@example.org', p.passcode, { protocol: 'smtp' }))).toMatchObject({ kind: 'passthrough' });
    expect(await store.listObservations()).toEqual([]);
  });

  it('the first would-break login of an account asks for one rollout notice naming its apps', async () => {
    await upstreamOk(req('alice@example.net', 'pw'));
    await upstreamOk(req('alice@example.net', 'pw', { protocol: 'pop3', clientId: null }));
    await upstreamOk(req('bob@example.org', 'pw', { protocol: 'smtp', clientId: 'laptop.example' }));
    const notices = await store.queryAudit({ type: 'rollout.notice' });
    expect(notices.map((e) => [e.username, e.detail])).toEqual([
      ['alice@example.net', { from: DATE, clients: ['Thunderbird 115 (imap)'] }],
      ['bob@example.org', { from: null, clients: ['laptop.example (smtp)'] }],
    ]);
    const mail = buildNotification(notices[0]!, { from: null, portalUrl: 'https://mail.example.net/2fa' });
    expect(mail?.subject).toBe('[mailgate] Your mail apps will need an app passcode');
    const day = new Date(DATE);
    const ymd = `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
    expect(mail?.message).toContain(`From ${ymd} the mail apps of alice@example.net need an app passcode`);
    expect(mail?.message).toContain('- Thunderbird 115 (imap)');
    expect(mail?.message).toContain('at https://mail.example.net/2fa');
    expect(buildNotification(notices[1]!, { from: null, portalUrl: null })?.message).toContain('Soon the mail apps of bob@example.org');
  });

  it('a failed observation write is reported, not thrown, and the login is still answered', async () => {
    store.recordObservation = async () => {
      throw new Error('disk full');
    };
    expect(await upstreamOk(req('alice@example.net', 'pw'))).toMatchObject({ kind: 'passthrough' });
    expect(errors).toEqual(['alice@example.net: disk full']);
  });
});
