import { describe, expect, it } from 'vitest';
import { FailureThrottle } from './throttle.js';

describe('FailureThrottle', () => {
  const make = (over: Partial<ConstructorParameters<typeof FailureThrottle>[1]> = {}) => {
    const clock = { t: 0, now() { return this.t; } };
    const t = new FailureThrottle(clock, { freeFailures: 3, baseDelayMs: 1_000, maxDelayMs: 8_000, forgetAfterMs: 60_000, ...over });
    return { clock, t };
  };

  it('lets the free failures through, then doubles the wait up to the ceiling', () => {
    const { t } = make();
    expect([t.fail('k'), t.fail('k'), t.fail('k')]).toEqual([0, 0, 0]);
    expect(t.waitMs('k')).toBe(0);
    expect([t.fail('k'), t.fail('k'), t.fail('k'), t.fail('k'), t.fail('k')]).toEqual([1_000, 2_000, 4_000, 8_000, 8_000]);
    expect(t.waitMs('k')).toBe(8_000);
    expect(t.waitMs('other')).toBe(0);
  });

  it('counts down with the clock and forgets a quiet key', () => {
    const { t, clock } = make();
    for (let i = 0; i < 4; i++) t.fail('k');
    clock.t += 400;
    expect(t.waitMs('k')).toBe(600);
    clock.t += 600;
    expect(t.waitMs('k')).toBe(0);
    expect(t.fail('k')).toBe(2_000); // still remembered: the wait grows
    clock.t += 60_001 + 2_000;
    expect(t.waitMs('k')).toBe(0);
    expect(t.fail('k')).toBe(0); // forgotten: free failures again
  });

  it('resets a key after a success, and bounds its memory', () => {
    const { t } = make({ maxKeys: 3 });
    for (let i = 0; i < 5; i++) t.fail('k');
    t.reset('k');
    expect(t.waitMs('k')).toBe(0);
    for (const k of ['a', 'b', 'c', 'd']) t.fail(k);
    expect(t.size).toBe(3);
  });
});
