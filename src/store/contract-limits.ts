/**
 * The per-passcode limits part of the Store contract (allowed networks, rename, expiry for want of
 * use). Registered by `storeContract` in contract.ts, so every backend runs it.
 */
import { expect, it } from 'vitest';
import { samplePasscode } from './contract.js';
import type { Store } from './types.js';

const T0 = 1_760_000_000_000;
const U = 'alice@example.org';
const DAY = 86_400_000;

/** Registers the cases; `store()` returns the fresh store of the running test. */
export function passcodeLimitsContract(store: () => Store): void {
  it('limits: round-trips allowed networks and the unused warning; renames and re-limits an unrevoked passcode of its owner only', async () => {
    const s = store();
    const row = samplePasscode({ allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'], unusedWarnedAt: T0 + 5 });
    await s.insertPasscode(row);
    expect(await s.getPasscode('pc_1')).toEqual(row);
    expect(await s.updatePasscode('bob@example.org', 'pc_1', { name: 'stolen' })).toBe(false);
    expect(await s.updatePasscode(U, 'pc_missing', { name: 'x' })).toBe(false);
    expect(await s.updatePasscode(U, 'pc_1', { name: 'Work phone' })).toBe(true);
    expect(await s.getPasscode('pc_1')).toMatchObject({ name: 'Work phone', allowedNetworks: row.allowedNetworks });
    expect(await s.updatePasscode(U, 'pc_1', { allowedNetworks: ['10.0.0.0/8'] })).toBe(true);
    expect(await s.getPasscode('pc_1')).toMatchObject({ name: 'Work phone', allowedNetworks: ['10.0.0.0/8'] });
    expect(await s.updatePasscode(U, 'pc_1', { allowedNetworks: null, unusedWarnedAt: T0 + 9, expiresAt: T0 + DAY })).toBe(true);
    expect(await s.getPasscode('pc_1')).toMatchObject({ allowedNetworks: null, unusedWarnedAt: T0 + 9, expiresAt: T0 + DAY });
    await s.revokePasscode(U, 'pc_1', T0 + 10);
    expect(await s.updatePasscode(U, 'pc_1', { name: 'after' })).toBe(false);
    expect((await s.getPasscode('pc_1'))?.name).toBe('Work phone');
  });

  it('limits: lists live passcodes unused since a time, least recently used first', async () => {
    const s = store();
    const rows = [
      samplePasscode({ id: 'old-never', tag: 't1', createdAt: T0 - 200 * DAY }),
      samplePasscode({ id: 'old-used', tag: 't2', createdAt: T0 - 300 * DAY, lastUsedAt: T0 - 190 * DAY }),
      samplePasscode({ id: 'recent', tag: 't3', createdAt: T0 - 300 * DAY, lastUsedAt: T0 - DAY }),
      samplePasscode({ id: 'revoked', tag: 't4', createdAt: T0 - 300 * DAY, revokedAt: T0 - 250 * DAY }),
      samplePasscode({ id: 'expired', tag: 't5', createdAt: T0 - 300 * DAY, expiresAt: T0 - DAY }),
      samplePasscode({ id: 'expiring', tag: 't6', createdAt: T0 - 220 * DAY, expiresAt: T0 + DAY }),
    ];
    for (const r of rows) await s.insertPasscode(r);
    const ids = async (limit: number) => (await s.unusedPasscodes(T0 - 180 * DAY, T0, limit)).map((r) => r.id);
    expect(await ids(10)).toEqual(['expiring', 'old-never', 'old-used']);
    expect(await ids(1)).toEqual(['expiring']);
  });
}
