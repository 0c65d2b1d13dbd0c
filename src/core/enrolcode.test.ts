/** Enrolment codes (portal.first_enrolment: code) in the two-factor service, over a real sqlite store. */
import { Identity } from './identity.js';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatEnrolCode, normalizeEnrolCode } from './enrolcode.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { totpCode } from './totp.js';
import { createTwoFactor, type TwoFactor } from './twofactor.js';
import type { Hasher } from './types.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const U = 'alice@example.com';
const WHO = { actor: 'portal', ip: '192.0.2.1' };
const DAY = 86_400_000;

describe('enrolment codes', () => {
  let store: Store;
  let now: number;
  let tf: TwoFactor;
  let verifies: number;
  const clock = { now: () => now };

  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    now = 1_760_000_000_000;
    verifies = 0;
    const hasher: Hasher = {
      async hash(s) {
        return sha(s);
      },
      async verify(s, h) {
        verifies++;
        return h === sha(s);
      },
      async close() {},
    };
    const policy = { enforce: ['example.com'] };
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
      firstEnrolment: 'code',
      identity: new Identity(),
    });
  });
  afterEach(async () => {
    await store.close();
  });

  /** Starts an enrolment and confirms it with the current TOTP code and `enrolCode`. */
  const attempt = async (enrolCode: string) => {
    const { secret } = await tf.beginEnrolment(U);
    return { secret, r: await tf.confirmEnrolment(U, totpCode(secret, now), WHO, enrolCode) };
  };

  it('look like abcd-efgh-jkmn and forgive case, spaces and dashes', () => {
    expect(formatEnrolCode('abcdefghjkmn')).toBe('abcd-efgh-jkmn');
    expect(normalizeEnrolCode(' ABCD efgh-JKMN ')).toBe('abcdefghjkmn');
    expect(normalizeEnrolCode('abcd-efgh-jkm0')).toBeNull();
  });

  it("without the admin's code the main password alone cannot turn 2FA on; wrong, expired and used codes neither", async () => {
    expect((await attempt('')).r).toEqual({ ok: false, reason: 'enrol-code' });
    expect((await attempt('abcd-efgh-jkmn')).r).toEqual({ ok: false, reason: 'enrol-code' });
    const short = await tf.issueEnrolCode(U, { actor: 'cli' }, 60_000);
    now += 60_000;
    expect((await attempt(short.code)).r).toEqual({ ok: false, reason: 'enrol-code' });
    const { code, expiresAt } = await tf.issueEnrolCode(U, { actor: 'cli' });
    expect(expiresAt).toBe(now + 7 * DAY);
    expect(code).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect((await attempt(short.code)).r).toEqual({ ok: false, reason: 'enrol-code' }); // replaced
    expect((await tf.status(U)).enabled).toBe(false);
    // A right code with a wrong TOTP code is not spent.
    await tf.beginEnrolment(U);
    expect(await tf.confirmEnrolment(U, '000000', WHO, code)).toEqual({ ok: false, reason: 'wrong-code' });
    expect((await attempt(code.toUpperCase().replace(/-/g, ' '))).r).toMatchObject({ ok: true, replaced: false });
    expect((await tf.status(U)).enabled).toBe(true);
    // Used: after the authenticator is gone again, the same code does not work a second time.
    await store.deleteTotp(U);
    expect((await attempt(code)).r).toEqual({ ok: false, reason: 'enrol-code' });
    const audit = await store.queryAudit({ type: 'totp.enrol-code', limit: 100 });
    expect(audit.map((e) => [e.outcome, e.reason])).toEqual([
      ['reject', 'wrong'],
      ['reject', 'wrong'],
      ['ok', null],
      ['reject', 'expired'],
      ['ok', null],
      ['reject', 'wrong'],
      ['accept', null],
      ['reject', 'used'],
    ]);
    expect(JSON.stringify(await store.queryAudit({ limit: 1000 }))).not.toContain(code.replace(/-/g, ''));
    expect(JSON.stringify(await store.getEnrolCode(U))).not.toContain(code.replace(/-/g, ''));
  });

  it('costs one hash check whether or not a code exists (nothing to learn from timing)', async () => {
    await attempt('abcd-efgh-jkmn'); // no code issued at all
    await attempt('not a code');
    expect(verifies).toBe(2);
  });

  it('moving to a new phone needs no code; a code cannot be issued while 2FA is on; reset hands out a new one', async () => {
    const first = await tf.issueEnrolCode(U, { actor: 'cli' });
    await attempt(first.code);
    await expect(tf.issueEnrolCode(U, { actor: 'cli' })).rejects.toThrow(/already on/);
    now += 30_000;
    const { secret } = await tf.beginEnrolment(U);
    expect(await tf.confirmEnrolment(U, totpCode(secret, now), WHO)).toEqual({ ok: true, codes: [], replaced: true });
    const reset = await tf.reset(U, { actor: 'api' });
    expect(reset).toMatchObject({ removed: true, enrolCode: { code: expect.stringMatching(/^[a-z2-9-]{14}$/), expiresAt: now + 7 * DAY } });
    expect((await attempt(first.code)).r).toEqual({ ok: false, reason: 'enrol-code' });
    expect((await attempt(reset.enrolCode!.code)).r).toMatchObject({ ok: true });
  });
});
