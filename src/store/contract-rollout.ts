/**
 * The rollout part of the Store contract (would-break observations, the once-per-account notice).
 * Registered by `storeContract` in contract.ts, so every backend runs it.
 */
import { expect, it } from 'vitest';
import type { Store } from './types.js';

const T0 = 1_760_000_000_000;
const A = 'alice@example.org';
const B = 'bob@example.org';

/** Registers the cases; `store()` returns the fresh store of the running test. */
export function rolloutContract(store: () => Store): void {
  it('observations: one row per account, protocol, client and address, counted, first and last seen kept', async () => {
    const s = store();
    expect(await s.listObservations()).toEqual([]);
    const tb = { username: A, protocol: 'imap' as const, client: 'Thunderbird 115', ip: '192.0.2.1' };
    await s.recordObservation({ ...tb, at: T0 });
    await s.recordObservation({ ...tb, at: T0 + 50 });
    await s.recordObservation({ ...tb, at: T0 + 20 }); // arrives late (another instance): last seen stays T0+50
    await s.recordObservation({ ...tb, ip: '192.0.2.2', at: T0 + 10 });
    await s.recordObservation({ username: A, protocol: 'pop3', client: null, ip: '192.0.2.1', at: T0 + 30 });
    await s.recordObservation({ username: A, protocol: 'pop3', client: null, ip: '192.0.2.1', at: T0 + 40 });
    await s.recordObservation({ username: B, protocol: 'smtp', client: 'laptop.example', ip: '2001:db8::1', at: T0 + 5 });
    expect(await s.listObservations(A)).toEqual([
      { ...tb, firstSeen: T0, lastSeen: T0 + 50, count: 3 },
      { username: A, protocol: 'pop3', client: null, ip: '192.0.2.1', firstSeen: T0 + 30, lastSeen: T0 + 40, count: 2 },
      { ...tb, ip: '192.0.2.2', firstSeen: T0 + 10, lastSeen: T0 + 10, count: 1 },
    ]);
    const all = await s.listObservations();
    expect(all.map((o) => [o.username, o.protocol, o.ip, o.count])).toEqual([
      [A, 'imap', '192.0.2.1', 3],
      [A, 'pop3', '192.0.2.1', 2],
      [A, 'imap', '192.0.2.2', 1],
      [B, 'smtp', '2001:db8::1', 1],
    ]);
    expect(await s.listObservations('nobody@example.org')).toEqual([]);
  });

  it('observations: concurrent logins of one client are all counted', async () => {
    const s = store();
    const o = { username: A, protocol: 'imap' as const, client: 'Mail/16', ip: '192.0.2.7' };
    await Promise.all(Array.from({ length: 25 }, (_, i) => s.recordObservation({ ...o, at: T0 + i })));
    expect(await s.listObservations(A)).toEqual([{ ...o, firstSeen: T0, lastSeen: T0 + 24, count: 25 }]);
  });

  it('rollout notice: marked once per account, even when asked at once', async () => {
    const s = store();
    const results = await Promise.all([s.markRolloutNotice(A, T0), s.markRolloutNotice(A, T0 + 1), s.markRolloutNotice(A, T0 + 2)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await s.markRolloutNotice(A, T0 + 10)).toBe(false);
    expect(await s.markRolloutNotice(B, T0 + 10)).toBe(true);
  });
}
