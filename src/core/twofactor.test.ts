import { Identity } from './identity.js';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatEmergencyCode, generateEmergencyCode, normalizeEmergencyCode } from './emergency.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { totpCode } from './totp.js';
import { createTwoFactor, type TwoFactor } from './twofactor.js';
import type { Hasher } from './types.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

/** Fast stand-in for bcrypt (one-way, so "no code in the store" can be asserted). */
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const hasher: Hasher = {
  async hash(s) {
    return sha(s);
  },
  async verify(s, h) {
    return h === sha(s);
  },
  async close() {},
};
const U = 'alice@example.com';
const WHO = { actor: 'portal', ip: '192.0.2.1' };

describe('emergency codes', () => {
  it('are 10 characters without look-alikes, shown as two groups, forgiving on input', () => {
    const c = generateEmergencyCode(randomBytes);
    expect(c).toMatch(/^[a-km-np-z2-9]{10}$/);
    expect(formatEmergencyCode('abcdefghij')).toBe('abcde-fghij');
    expect(normalizeEmergencyCode(' ABCDE fghij ')).toBe('abcdefghij');
    expect(normalizeEmergencyCode('abcde-fghi0')).toBeNull(); // 0 is not in the alphabet
    expect(normalizeEmergencyCode('123456')).toBeNull();
  });
});

describe('two-factor service', () => {
  let store: Store;
  let now: number;
  let tf: TwoFactor;
  let policy: { enforce: 'all' | string[] };
  const clock = { now: () => now };

  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    now = 1_760_000_000_000;
    policy = { enforce: [] };
    const keys = deriveKeys(Buffer.alloc(32, 3));
    const manager = createManager({ store, hasher, keys, clock, random: randomBytes, policy, identity: new Identity() });
    tf = createTwoFactor({
      store,
      hasher,
      keys,
      clock,
      random: randomBytes,
      policy,
      manager,
      issuer: 'mailgate',
      identity: new Identity(),
    });
  });
  afterEach(async () => {
    await store.close();
  });

  async function enrol(): Promise<{ secret: string; codes: string[] }> {
    const { secret } = await tf.beginEnrolment(U);
    const r = await tf.confirmEnrolment(U, totpCode(secret, now), WHO);
    if (!r.ok) throw new Error(r.reason);
    return { secret, codes: r.codes };
  }

  it('changes nothing until the enrolment is confirmed with a current code', async () => {
    const { secret, uri } = await tf.beginEnrolment(U);
    expect(uri).toContain(secret);
    expect((await tf.status(U)).enabled).toBe(false);
    expect(await tf.confirmEnrolment(U, '000000', WHO)).toEqual({ ok: false, reason: 'wrong-code' });
    expect((await tf.pendingEnrolment(U))?.secret).toBe(secret);
    now += 61 * 60_000;
    expect(await tf.confirmEnrolment(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'no-enrolment' });
    expect(await store.getAccount(U)).toBeUndefined();
  });

  it('on confirmation enforces the account and hands out 10 emergency codes once', async () => {
    const { codes } = await enrol();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    expect(await tf.status(U)).toMatchObject({ enabled: true, codesLeft: 10, codesTotal: 10, required: false });
    expect((await store.getAccount(U))?.enforced).toBe(true);
    const stored = JSON.stringify([await store.getTotp(U), await store.listEmergencyCodes(U), await store.queryAudit({})]);
    for (const c of codes) expect(stored).not.toContain(c.replace('-', ''));
  });

  it('accepts a TOTP step once, and neither it nor an earlier one again (replay guard)', async () => {
    const { secret } = await enrol(); // the confirming code spent the current step
    expect(await tf.verify(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'replayed' });
    now += 30_000;
    expect(await tf.verify(U, totpCode(secret, now), WHO)).toMatchObject({ ok: true, method: 'totp' });
    expect(await tf.verify(U, totpCode(secret, now - 30_000), WHO)).toEqual({ ok: false, reason: 'replayed' });
    expect(await tf.verify(U, '123456', WHO)).toMatchObject({ ok: false });
  });

  it('accepts each emergency code once; regenerating invalidates the old set at once', async () => {
    const { codes } = await enrol();
    const [first, second] = codes as [string, string];
    expect(await tf.verify(U, first.toUpperCase(), WHO)).toEqual({ ok: true, method: 'emergency', codesLeft: 9 });
    expect(await tf.verify(U, first, WHO)).toEqual({ ok: false, reason: 'used-code' });
    const fresh = await tf.regenerateCodes(U, { actor: 'cli' });
    expect(await tf.verify(U, second, WHO)).toEqual({ ok: false, reason: 'wrong-code' });
    expect(await tf.verify(U, fresh[0]!, WHO)).toMatchObject({ ok: true, codesLeft: 9 });
  });

  it('turns off with a current code, releasing the enforcement the portal set', async () => {
    const { secret } = await enrol();
    now += 30_000;
    expect(await tf.disable(U, '000000', WHO)).toEqual({ ok: false, reason: 'wrong-code' });
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: true });
    expect(await tf.status(U)).toMatchObject({ enabled: false, codesLeft: 0 });
    expect(await store.getAccount(U)).toMatchObject({ enforced: null, enforcedBy: null });
  });

  it('refuses to turn off where the policy or an admin requires 2FA', async () => {
    const { secret } = await enrol();
    now += 30_000;
    policy.enforce = ['example.com'];
    expect((await tf.status(U)).required).toBe(true);
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'required' });
    policy.enforce = [];
    const admin = createManager({
      store,
      hasher,
      keys: deriveKeys(Buffer.alloc(32, 3)),
      clock,
      random: randomBytes,
      policy,
      identity: new Identity(),
    });
    await admin.setEnforcement(U, true, 'cli');
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'required' });
  });

  it("keeps an admin's override the admin's: enrolling neither takes it over nor can disabling clear it", async () => {
    const admin = createManager({
      store,
      hasher,
      keys: deriveKeys(Buffer.alloc(32, 3)),
      clock,
      random: randomBytes,
      policy,
      identity: new Identity(),
    });
    await admin.setEnforcement(U, true, 'api');
    const { secret } = await enrol();
    expect(await store.getAccount(U)).toMatchObject({ enforced: true, enforcedBy: 'admin' });
    expect((await tf.status(U)).required).toBe(true);
    now += 30_000;
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'required' });
    expect(await store.getAccount(U)).toMatchObject({ enforced: true, enforcedBy: 'admin' });
    // Only the admin's release gives it back to the policy; then the user may turn 2FA off.
    await admin.setEnforcement(U, null, 'cli');
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: true });
  });

  it('an admin enforcing over the portal\'s override takes ownership; "never enforce" survives enrolling', async () => {
    const admin = createManager({
      store,
      hasher,
      keys: deriveKeys(Buffer.alloc(32, 3)),
      clock,
      random: randomBytes,
      policy,
      identity: new Identity(),
    });
    const { secret } = await enrol();
    expect(await store.getAccount(U)).toMatchObject({ enforced: true, enforcedBy: 'portal' });
    expect((await admin.showAccount(U)).enforcedBy).toBe('portal');
    await admin.setEnforcement(U, true, 'cli');
    expect(await admin.showAccount(U)).toMatchObject({ enforced: true, override: true, enforcedBy: 'admin' });
    now += 30_000;
    expect(await tf.disable(U, totpCode(secret, now), WHO)).toEqual({ ok: false, reason: 'required' });
    const other = 'svc@example.com';
    await admin.setEnforcement(other, false, 'cli');
    const { secret: s2 } = await tf.beginEnrolment(other);
    expect(await tf.confirmEnrolment(other, totpCode(s2, now), WHO)).toMatchObject({ ok: true });
    expect(await store.getAccount(other)).toMatchObject({ enforced: false, enforcedBy: 'admin' });
    now += 30_000;
    expect(await tf.disable(other, totpCode(s2, now), WHO)).toEqual({ ok: true });
    expect(await store.getAccount(other)).toMatchObject({ enforced: false, enforcedBy: 'admin' });
  });

  it('reset removes the authenticator, the codes and the portal sessions, keeps enforcement', async () => {
    await enrol();
    await store.createPortalSession({ id: 's', username: U, stage: 'complete', csrf: 'c', ip: null, createdAt: now, lastSeenAt: now });
    expect(await tf.reset(U, { actor: 'api' })).toEqual({ removed: true, portalSessionsEnded: 1 });
    expect(await tf.status(U)).toMatchObject({ enabled: false, codesLeft: 0 });
    expect((await store.getAccount(U))?.enforced).toBe(true);
    await expect(tf.regenerateCodes(U, { actor: 'cli' })).rejects.toThrow(/not on/);
  });

  it('lets a user move to a new phone: the old app works until the new one is confirmed', async () => {
    const { secret: old } = await enrol();
    const { secret: fresh } = await tf.beginEnrolment(U);
    now += 30_000;
    expect(await tf.verify(U, totpCode(old, now), WHO)).toMatchObject({ ok: true });
    now += 30_000;
    const r = await tf.confirmEnrolment(U, totpCode(fresh, now), WHO);
    expect(r).toEqual({ ok: true, codes: [], replaced: true });
    now += 30_000;
    expect(await tf.verify(U, totpCode(old, now), WHO)).toMatchObject({ ok: false });
    expect((await tf.status(U)).codesLeft).toBe(10); // the emergency codes stay valid
  });
});
