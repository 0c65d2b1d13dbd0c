import { describe, expect, it } from 'vitest';
import { startLoginTimer } from './pacing.js';

const elapsed = async (f: () => Promise<void>) => {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
};

describe('startLoginTimer', () => {
  it('answers a failure delay + jitter after the login arrived, counting time already spent', async () => {
    const arrived = performance.now();
    const timer = startLoginTimer(100, (max) => {
      expect(max).toBe(101);
      return 60;
    });
    await new Promise((r) => setTimeout(r, 80)); // e.g. the upstream took 80 ms to refuse
    const waitedFrom = performance.now();
    await timer.failureDue(100);
    const now = performance.now();
    // Due at arrival + 100 + 60, whatever the 80 ms really took on a busy machine; the wait itself
    // is only what was left.
    expect(now - arrived).toBeGreaterThanOrEqual(155); // timers may fire a millisecond early, and the clocks differ in rounding
    expect(now - arrived).toBeLessThan(230);
    expect(now - waitedFrom).toBeLessThan(160 - (waitedFrom - arrived) + 50);
  });

  it('does not wait again when the upstream answered after the due time', async () => {
    const timer = startLoginTimer(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(await elapsed(() => timer.failureDue(40))).toBeLessThan(10);
  });

  it('answers a blocked source (delay 0) at once, without jitter', async () => {
    const timer = startLoginTimer(1_000, () => 1_000);
    expect(await elapsed(() => timer.failureDue(0))).toBeLessThan(10);
  });
});
