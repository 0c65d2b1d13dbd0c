import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticate.js';
import { VerifiedCache } from './cache.js';
import { NetworkSet, isEnforced } from './enforcement.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { formatPasscode, generatePasscode, normalizePasscode, passcodeTag } from './passcodes.js';
import { SessionRegistry } from './sessions.js';
import { Identity } from './identity.js';
import { AuthGuard, DEFAULT_GUARD } from './guard.js';
import { localGuard } from './guard-port.js';
import type { AuthRequest, Hasher } from './types.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

/** A hasher that counts calls, so tests can prove "a wrong guess costs no bcrypt". */
function countingHasher(): Hasher & { verifies: number } {
  const h = {
    verifies: 0,
    async hash(s: string) {
      return `h:${s}`;
    },
    async verify(s: string, hash: string) {
      h.verifies++;
      return hash === `h:${s}`;
    },
    async close() {},
  };
  return h;
}

describe('passcodes', () => {
  it('are 16 lowercase letters, grouped for display, normalised on input', () => {
    const p = generatePasscode(randomBytes);
    expect(p).toMatch(/^[a-z]{16}$/);
    expect(formatPasscode(p)).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
    expect(normalizePasscode(` ${formatPasscode(p).toUpperCase().replace(/ /g, '-')} `)).toBe(p);
    expect(normalizePasscode('alice-main-pw')).toBeNull();
    expect(normalizePasscode('abcdefghijklmnopq')).toBeNull();
  });

  it('are uniformly distributed over the alphabet (no modulo bias)', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) for (const ch of generatePasscode(randomBytes)) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(26);
    const mean = (2000 * 16) / 26;
    for (const n of counts.values()) expect(Math.abs(n - mean) / mean).toBeLessThan(0.15);
  });

  it('have tags that depend on the key, the account and the passcode', () => {
    const k1 = deriveKeys(Buffer.alloc(32, 1)).tag;
    const k2 = deriveKeys(Buffer.alloc(32, 2)).tag;
    const t = passcodeTag(k1, 'a@x', 'abcdefghijklmnop');
    expect(t).toMatch(/^[0-9a-f]{16}$/);
    expect(passcodeTag(k2, 'a@x', 'abcdefghijklmnop')).not.toBe(t);
    expect(passcodeTag(k1, 'b@x', 'abcdefghijklmnop')).not.toBe(t);
    expect(passcodeTag(k1, 'a@x', 'abcdefghijklmnoq')).not.toBe(t);
  });
});

describe('enforcement', () => {
  it('follows the policy unless the account has an override', () => {
    const policy = { enforce: ['example.com', 'carol@example.org'] };
    expect(isEnforced(policy, null, 'alice@example.com', 0)).toBe(true);
    expect(isEnforced(policy, null, 'alice@example.org', 0)).toBe(false);
    expect(isEnforced(policy, null, 'carol@example.org', 0)).toBe(true);
    expect(isEnforced(policy, false, 'alice@example.com', 0)).toBe(false);
    expect(isEnforced(policy, true, 'dave@other.net', 0)).toBe(true);
    expect(isEnforced({ enforce: 'all' }, null, 'anyone', 0)).toBe(true);
    expect(isEnforced(policy, null, 'x@sub.example.com', 0)).toBe(false);
  });

  it('matches exempt networks for IPv4, IPv6 and IPv4-mapped addresses', () => {
    const n = new NetworkSet(['10.0.0.5/32', '2001:db8::/64']);
    expect(n.has('10.0.0.5')).toBe(true);
    expect(n.has('::ffff:10.0.0.5')).toBe(true);
    expect(n.has('10.0.0.6')).toBe(false);
    expect(n.has('2001:db8::1234')).toBe(true);
    expect(n.has('2001:db9::1')).toBe(false);
    expect(n.has('garbage')).toBe(false);
    expect(new NetworkSet([]).has('10.0.0.5')).toBe(false);
  });
});

describe('authenticate()', () => {
  let store: Store;
  let hasher: ReturnType<typeof countingHasher>;
  let now: number;
  const clock = { now: () => now };
  const keys = deriveKeys(Buffer.alloc(32, 7));
  let cache: VerifiedCache;
  let auth: ReturnType<typeof createAuthenticator>;
  let manager: ReturnType<typeof createManager>;
  const req = (user: string, secret: string, extra: Partial<AuthRequest> = {}): AuthRequest => ({
    user,
    secret,
    protocol: 'imap',
    remoteIp: '192.0.2.1',
    ...extra,
  });

  beforeEach(async () => {
    now = 1_700_000_000_000;
    store = await openSqliteStore(':memory:');
    hasher = countingHasher();
    cache = new VerifiedCache(keys.cache, 60_000, clock);
    const policy = { enforce: ['example.com'] as string[] };
    auth = createAuthenticator({
      store,
      hasher,
      keys,
      policy,
      exempt: new NetworkSet(['10.0.0.5/32']),
      cache,
      clock,
      guard: localGuard(new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 1000 })),
      identity: new Identity(),
    });
    manager = createManager({
      store,
      hasher,
      keys,
      clock,
      random: randomBytes,
      policy,
      cache,
      sessions: new SessionRegistry(),
      identity: new Identity(),
    });
  });

  it('accepts a valid passcode in any case/spacing, and caches it so the next login costs no bcrypt', async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'] });
    const d = await auth.authenticate(req('Alice@Example.com', p.formatted.toUpperCase()));
    expect(d).toEqual({ kind: 'accept-passcode', account: 'alice@example.com', passcodeId: p.info.id, cached: false, expiresAt: null });
    expect(hasher.verifies).toBe(1);
    expect(await auth.authenticate(req('alice@example.com', p.passcode))).toMatchObject({ kind: 'accept-passcode', cached: true });
    expect(hasher.verifies).toBe(1);
    const row = await store.getPasscode(p.info.id);
    expect(row).toMatchObject({ lastUsedAt: now, lastUsedIp: '192.0.2.1' });
    // Within a minute from the same place: no new write; from elsewhere, or later: recorded.
    const first = now;
    now += 30_000;
    await auth.authenticate(req('alice@example.com', p.passcode));
    expect((await store.getPasscode(p.info.id))?.lastUsedAt).toBe(first);
    await auth.authenticate(req('alice@example.com', p.passcode, { remoteIp: '198.51.100.9' }));
    expect(await store.getPasscode(p.info.id)).toMatchObject({ lastUsedAt: now, lastUsedIp: '198.51.100.9' });
    now += 61_000;
    await auth.authenticate(req('alice@example.com', p.passcode, { remoteIp: '198.51.100.9' }));
    expect((await store.getPasscode(p.info.id))?.lastUsedAt).toBe(now);
  });

  it('refuses the main password and wrong passcodes without running bcrypt', async () => {
    await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'] });
    expect(await auth.authenticate(req('alice@example.com', 'alice-main-pw'))).toEqual({
      kind: 'reject',
      account: 'alice@example.com',
      reason: 'not-a-passcode',
      delayMs: 2000,
      hint: 'needs-passcode',
    });
    expect(await auth.authenticate(req('alice@example.com', 'abcd efgh ijkl mnop'))).toMatchObject({ reason: 'unknown-passcode' });
    expect(hasher.verifies).toBe(0);
  });

  it("does not accept one account's passcode for another", async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'] });
    expect(await auth.authenticate(req('carol@example.com', p.passcode))).toMatchObject({ kind: 'reject', reason: 'unknown-passcode' });
  });

  it('refuses revoked (even when cached), expired and out-of-scope passcodes', async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'], expiresAt: now + 10_000 });
    expect((await auth.authenticate(req('alice@example.com', p.passcode))).kind).toBe('accept-passcode');
    expect(await auth.authenticate(req('alice@example.com', p.passcode, { protocol: 'smtp' }))).toMatchObject({ reason: 'wrong-scope' });
    now += 10_000;
    expect(await auth.authenticate(req('alice@example.com', p.passcode))).toMatchObject({ reason: 'expired' });
    const q = await manager.createPasscode('alice@example.com', { name: 'q', scopes: ['imap'] });
    expect((await auth.authenticate(req('alice@example.com', q.passcode))).kind).toBe('accept-passcode');
    await store.revokePasscode('alice@example.com', q.info.id, now); // as another process would: cache not told
    expect(await auth.authenticate(req('alice@example.com', q.passcode))).toMatchObject({ reason: 'revoked' });
  });

  it('passes through accounts that are not enforced, released, or logging in from an exempt network', async () => {
    expect(await auth.authenticate(req('bob@example.org', 'pw'))).toEqual({
      kind: 'passthrough',
      account: 'bob@example.org',
      reason: 'not-enforced',
    });
    await manager.setEnforcement('alice@example.com', false);
    expect((await auth.authenticate(req('alice@example.com', 'pw'))).kind).toBe('passthrough');
    await manager.setEnforcement('alice@example.com', null);
    expect((await auth.authenticate(req('alice@example.com', 'pw'))).kind).toBe('reject');
    expect(await auth.authenticate(req('alice@example.com', 'pw', { remoteIp: '10.0.0.5' }))).toMatchObject({
      kind: 'passthrough',
      reason: 'exempt-network',
    });
  });

  it('refuses a blocked source at once, without bcrypt, even with the right passcode', async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'] });
    const guard = new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 2 });
    const strict = createAuthenticator({
      store,
      hasher,
      keys,
      policy: { enforce: ['example.com'] },
      exempt: new NetworkSet([]),
      cache,
      clock,
      guard: localGuard(guard),
      identity: new Identity(),
    });
    expect(await strict.authenticate(req('alice@example.com', 'wrong-1'))).toMatchObject({ reason: 'not-a-passcode', delayMs: 2000 });
    expect(await strict.authenticate(req('alice@example.com', 'wrong-2'))).toMatchObject({ reason: 'not-a-passcode', delayMs: 4000 });
    expect(await strict.authenticate(req('alice@example.com', p.passcode))).toEqual({
      kind: 'reject',
      account: 'alice@example.com',
      reason: 'throttled',
      delayMs: 0,
    });
    expect(hasher.verifies).toBe(0);
    expect((await strict.authenticate(req('alice@example.com', p.passcode, { remoteIp: '192.0.2.99' }))).kind).toBe('accept-passcode');
  });

  it("decides on the canonical account: a bare name is the default domain's account, another domain is refused", async () => {
    const identity = new Identity({ defaultDomain: 'example.com', domains: ['example.com'] });
    const a = createAuthenticator({
      store,
      hasher,
      keys,
      policy: { enforce: ['example.com'] },
      exempt: new NetworkSet([]),
      cache,
      clock,
      guard: localGuard(new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 1000 })),
      identity,
    });
    const m = createManager({
      store,
      hasher,
      keys,
      clock,
      random: randomBytes,
      policy: { enforce: ['example.com'] },
      cache,
      sessions: new SessionRegistry(),
      identity,
    });
    const p = await m.createPasscode('ALICE', { name: 'tb', scopes: ['imap'] });
    expect(p.info.username).toBe('alice@example.com');
    // The attack: "alice" was not enforced (no domain) while the upstream logged in alice@example.com.
    expect(await a.authenticate(req('alice', 'alice-main-pw'))).toMatchObject({
      kind: 'reject',
      account: 'alice@example.com',
      reason: 'not-a-passcode',
    });
    expect(await a.authenticate(req(' Alice ', p.passcode))).toMatchObject({ kind: 'accept-passcode', account: 'alice@example.com' });
    expect(await a.authenticate(req('alice@other.org', 'alice-main-pw'))).toMatchObject({ kind: 'reject', reason: 'malformed' });
    expect((await store.queryAudit({ username: 'alice@example.com' })).filter((e) => e.type === 'auth')).toHaveLength(2);
  });

  it('rejects malformed input without touching the store', async () => {
    for (const [u, s] of [
      ['', 'x'],
      ['a@example.com', ''],
      ['a@example.com', 'x\u0000y'],
      ['a\r\nb', 'x'],
      ['a@example.com', 'x'.repeat(2000)],
    ]) {
      expect(await auth.authenticate(req(u!, s!))).toMatchObject({ kind: 'reject', reason: 'malformed' });
    }
  });

  it('audits every decision without the secret', async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['imap'] });
    await auth.authenticate(req('alice@example.com', p.passcode, { clientId: 'Thunderbird 128' }));
    await auth.authenticate(req('alice@example.com', 'alice-main-pw'));
    await new Promise((r) => setTimeout(r, 10));
    const events = await store.queryAudit({ type: 'auth' });
    expect(events.map((e) => [e.outcome, e.reason])).toEqual([
      ['accept', null],
      ['reject', 'not-a-passcode'],
    ]);
    const text = JSON.stringify(await store.queryAudit({}));
    expect(text).not.toContain(p.passcode);
    expect(text).not.toContain('alice-main-pw');
    expect(text).toContain('Thunderbird 128');
  });
});
