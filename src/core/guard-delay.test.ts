import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICIES, DelayCounter, type DelayPolicy } from './guard-delay.js';
import { AuthGuard, DEFAULT_GUARD } from './guard.js';

describe("DelayCounter (the guard's named delay policies)", () => {
  const make = (over: Partial<DelayPolicy> = {}) => {
    const clock = {
      t: 0,
      now() {
        return this.t;
      },
    };
    const t = new DelayCounter(clock, {
      counts: [{ per: 'client+account', freeFailures: 3 }],
      baseDelayMs: 1_000,
      maxDelayMs: 8_000,
      forgetAfterMs: 60_000,
      maxKeys: 100_000,
      sharesMailLogin: false,
      ...over,
    });
    return { clock, t };
  };

  it('lets the free failures through, then doubles the wait up to the ceiling', () => {
    const { t } = make();
    expect([t.fail('ip', 'k'), t.fail('ip', 'k'), t.fail('ip', 'k')]).toEqual([0, 0, 0]);
    expect(t.waitMs('ip', 'k')).toBe(0);
    expect([t.fail('ip', 'k'), t.fail('ip', 'k'), t.fail('ip', 'k'), t.fail('ip', 'k'), t.fail('ip', 'k')]).toEqual([
      1_000, 2_000, 4_000, 8_000, 8_000,
    ]);
    expect(t.waitMs('ip', 'k')).toBe(8_000);
    expect(t.waitMs('ip', 'other')).toBe(0);
  });

  it('counts down with the clock (from a clock that starts at 0) and forgets a quiet key', () => {
    const { t, clock } = make();
    for (let i = 0; i < 4; i++) t.fail('ip', 'k');
    clock.t += 400;
    expect(t.waitMs('ip', 'k')).toBe(600);
    clock.t += 600;
    expect(t.waitMs('ip', 'k')).toBe(0);
    expect(t.fail('ip', 'k')).toBe(2_000); // still remembered: the wait grows
    clock.t += 60_001 + 2_000;
    expect(t.waitMs('ip', 'k')).toBe(0);
    expect(t.fail('ip', 'k')).toBe(0); // forgotten: free failures again
  });

  it('forgives a key after a success, and bounds its memory', () => {
    const { t } = make({ maxKeys: 3 });
    for (let i = 0; i < 5; i++) t.fail('ip', 'k');
    t.forgive('ip', 'k');
    expect(t.waitMs('ip', 'k')).toBe(0);
    for (const k of ['a', 'b', 'c', 'd']) t.fail('ip', k);
    expect(t.size).toBe(3);
  });

  it("counts per client whatever the account, and a success never forgives the client's count", () => {
    const { t } = make({
      counts: [
        { per: 'client+account', freeFailures: 5 },
        { per: 'client', freeFailures: 2 },
      ],
    });
    expect([t.fail('ip', 'a'), t.fail('ip', 'b'), t.fail('ip', 'c')]).toEqual([0, 0, 1_000]); // a spray over accounts
    t.forgive('ip', 'mallory'); // the attacker's own account
    expect(t.waitMs('ip', 'd')).toBe(1_000);
    expect(t.waitMs('other-ip', 'd')).toBe(0);
  });
});

describe('AuthGuard named policies', () => {
  const setup = () => {
    let now = 1_000_000;
    const guard = new AuthGuard({ now: () => now }, { ...DEFAULT_GUARD, blockAfter: 3 }, undefined, {
      'admin-token': { baseDelayMs: 10_000 },
    });
    return {
      guard,
      advance: (ms: number) => {
        now += ms;
      },
    };
  };

  it('portal-password: 5 free failures per client and account, then a wait; shares the mail login', () => {
    const { guard } = setup();
    for (let i = 0; i < 2; i++) expect(guard.fail('portal-password', '192.0.2.1', 'alice', `fp${i}`)).toBe(0);
    expect(guard.waitMs('portal-password', '192.0.2.1', 'alice')).toBe(0);
    guard.fail('portal-password', '192.0.2.1', 'alice', 'fp2'); // the 3rd distinct failure: the mail login blocks the source
    expect(guard.check('192.0.2.1', 'bob')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(guard.waitMs('portal-password', '192.0.2.1', 'bob')).toBe(DEFAULT_GUARD.blockForMs);
    expect(guard.waitMs('portal-password', '192.0.2.2', 'alice')).toBe(0);
  });

  it('portal-code counts per account across clients; admin-token per client, with its own timing', () => {
    const { guard, advance } = setup();
    for (let i = 0; i < 5; i++) guard.fail('portal-code', `192.0.2.${i}`, 'alice');
    expect(guard.fail('portal-code', '192.0.2.9', 'alice')).toBe(DEFAULT_POLICIES['portal-code'].baseDelayMs);
    expect(guard.waitMs('portal-code', '198.51.100.1', 'alice')).toBe(2_000);
    expect(guard.waitMs('portal-code', '198.51.100.1', 'bob')).toBe(0);
    advance(2_000);
    guard.succeed('portal-code', '192.0.2.9', 'alice');
    expect(guard.fail('portal-code', '192.0.2.9', 'alice')).toBe(0);
    for (let i = 0; i < 30; i++) expect(guard.fail('admin-token', '203.0.113.5', null)).toBe(0);
    expect(guard.fail('admin-token', '203.0.113.5', null)).toBe(10_000);
    expect(guard.waitMs('admin-token', '203.0.113.6', null)).toBe(0);
    expect(guard.check('203.0.113.5', null)).toEqual({ kind: 'allow' }); // not the mail login's business
  });
});
