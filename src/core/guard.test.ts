import { describe, expect, it } from 'vitest';
import { AuthGuard, DEFAULT_GUARD, sourceOf, type GuardEvent } from './guard.js';

function setup(opts: Partial<typeof DEFAULT_GUARD> = {}) {
  let now = 1_000_000;
  const events: GuardEvent[] = [];
  const guard = new AuthGuard({ now: () => now }, { ...DEFAULT_GUARD, ...opts }, (e) => events.push(e));
  return {
    guard,
    events,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('AuthGuard', () => {
  it('groups IPv6 by /64 and unwraps IPv4-mapped addresses', () => {
    expect(sourceOf('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('2001:db8:1:2::ffff')).toBe('2001:db8:1:2::/64');
    expect(sourceOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceOf('192.0.2.7')).toBe('192.0.2.7');
  });

  it('doubles the delay from 2 s to a 15 s cap, then blocks the source', () => {
    const { guard, events } = setup();
    const delays = Array.from({ length: 10 }, (_, i) => guard.failure('192.0.2.1', 'alice', `fp${i}`));
    expect(delays.slice(0, 5)).toEqual([2000, 4000, 8000, 15000, 15000]);
    expect(guard.check('192.0.2.1', 'bob')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(guard.check('192.0.2.2', 'alice')).toEqual({ kind: 'allow' });
    expect(events).toEqual([expect.objectContaining({ type: 'abuse.block', source: '192.0.2.1', failures: 10 })]);
  });

  it('does not escalate on the same wrong secret sent again', () => {
    const { guard } = setup();
    for (let i = 0; i < 50; i++) expect(guard.failure('192.0.2.1', 'alice', 'old-password-fp')).toBe(2000);
    expect(guard.check('192.0.2.1', 'alice')).toEqual({ kind: 'allow' });
  });

  it('blocks a whole IPv6 /64, and an admin can lift it', () => {
    const { guard, events } = setup({ blockAfter: 3 });
    guard.failure('2001:db8::1', null, 'a');
    guard.failure('2001:db8::2', null, 'b');
    guard.failure('2001:db8::3', null, 'c');
    expect(guard.check('2001:db8::99', null).kind).toBe('blocked');
    expect(guard.blocks()).toEqual([expect.objectContaining({ source: '2001:db8:0:0::/64' })]);
    expect(guard.unblock('2001:db8::5')).toBe(true);
    expect(guard.check('2001:db8::99', null).kind).toBe('allow');
    expect(events.at(-1)).toEqual({ type: 'abuse.unblock', source: '2001:db8:0:0::/64' });
  });

  it('forgets a source after the window, and lifts a block after its time', () => {
    const { guard, advance } = setup({ blockAfter: 2 });
    guard.failure('192.0.2.1', null, 'a');
    advance(DEFAULT_GUARD.windowMs + 1);
    expect(guard.failure('192.0.2.1', null, 'b')).toBe(2000); // counting starts over
    guard.failure('192.0.2.1', null, 'c');
    expect(guard.check('192.0.2.1', null).kind).toBe('blocked');
    advance(DEFAULT_GUARD.blockForMs + 1);
    expect(guard.check('192.0.2.1', null).kind).toBe('allow');
  });

  it('caps failures on an account from unknown sources, but never locks out a known source', () => {
    const { guard, events } = setup({ accountCeiling: 5, blockAfter: 100 });
    guard.success('198.51.100.7', 'alice'); // alice's office
    for (let i = 0; i < 5; i++) guard.failure(`203.0.113.${i}`, 'alice', `x${i}`); // a spray from five addresses
    expect(events).toEqual([expect.objectContaining({ type: 'abuse.account-ceiling', account: 'alice' })]);
    expect(guard.check('203.0.113.200', 'alice')).toMatchObject({ kind: 'blocked', reason: 'account-ceiling' });
    expect(guard.check('203.0.113.200', 'bob')).toEqual({ kind: 'allow' });
    expect(guard.check('198.51.100.7', 'alice')).toEqual({ kind: 'allow' });
  });

  it("does not count the owner's own typos from a known source towards the account ceiling", () => {
    const { guard, events } = setup({ accountCeiling: 5, blockAfter: 100 });
    guard.success('198.51.100.7', 'alice');
    for (let i = 0; i < 20; i++) guard.failure('198.51.100.7', 'alice', `typo${i}`);
    expect(events).toEqual([]);
    expect(guard.check('203.0.113.1', 'alice')).toEqual({ kind: 'allow' });
  });

  it('a success forgives the source (the right user should not inherit the wrong guesses)', () => {
    const { guard } = setup();
    guard.failure('192.0.2.1', 'alice', 'a');
    guard.failure('192.0.2.1', 'alice', 'b');
    guard.success('192.0.2.1', 'alice');
    expect(guard.failure('192.0.2.1', 'alice', 'c')).toBe(2000);
  });

  it('finding 4: logging in to an account of its own between guesses does not reset the source', () => {
    const { guard, events } = setup({ blockAfter: 10 });
    let rejected = 0;
    for (let round = 0; round < 10 && guard.check('192.0.2.1', 'alice').kind === 'allow'; round++) {
      for (let i = 0; i < 4; i++) {
        guard.failure('192.0.2.1', i % 2 ? 'alice' : 'bob', `r${round}g${i}`);
        rejected++;
      }
      guard.success('192.0.2.1', 'mallory'); // the attacker's own account
    }
    expect(rejected).toBe(12); // blocked at the 10th distinct failure, within the third round
    expect(guard.check('192.0.2.1', 'mallory')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(events.filter((e) => e.type === 'abuse.block')).toHaveLength(1);
  });

  it("a success forgives only that account's failures, and only for the delay", () => {
    const { guard } = setup({ blockAfter: 5 });
    guard.failure('192.0.2.1', 'bob', 'b1');
    guard.failure('192.0.2.1', 'alice', 'typo');
    guard.success('192.0.2.1', 'alice');
    expect(guard.failure('192.0.2.1', 'alice', 'typo2')).toBe(4000); // bob's failure still counts, alice's typo not
    guard.success('192.0.2.1', 'alice');
    expect(guard.failure('192.0.2.1', 'alice', 'typo3')).toBe(4000);
    expect(guard.check('192.0.2.1', 'alice').kind).toBe('allow');
    guard.failure('192.0.2.1', 'alice', 'typo4'); // the 5th distinct failure: forgiven or not, it blocks
    expect(guard.check('192.0.2.1', 'alice')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
  });

  it('a flood of new sources evicts unblocked entries, never a block or an account ceiling', () => {
    const { guard } = setup({ maxEntries: 10, blockAfter: 2, accountCeiling: 2 });
    guard.failure('192.0.2.1', 'alice', 'a');
    guard.failure('192.0.2.1', 'alice', 'b');
    guard.failure('192.0.2.2', 'alice', 'c'); // alice's ceiling: two failures from unknown sources
    for (let i = 0; i < 500; i++) guard.failure(`10.1.${i >> 8}.${i & 255}`, `u${i}`, 'x');
    expect(guard.check('192.0.2.1', 'bob')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(guard.check('203.0.113.9', 'alice')).toMatchObject({ kind: 'blocked', reason: 'account-ceiling' });
    expect((guard as unknown as { sources: Map<string, unknown> }).sources.size).toBeLessThanOrEqual(10);
  });

  it('a table full of blocks refuses new sources (reported once) until a block ends or is lifted', () => {
    const { guard, events, advance } = setup({ maxEntries: 3, blockAfter: 1 });
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) guard.failure(ip, null, 'a');
    expect(guard.check('192.0.2.4', 'alice')).toMatchObject({ kind: 'blocked', reason: 'table-full' });
    expect(guard.failure('192.0.2.4', 'alice', 'z')).toBe(DEFAULT_GUARD.maxDelayMs);
    expect(guard.check('192.0.2.5', 'alice')).toMatchObject({ kind: 'blocked', reason: 'table-full' });
    expect(guard.blocks().map((b) => b.source)).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(events.filter((e) => e.type === 'abuse.table-full')).toHaveLength(1);
    expect(guard.unblock('192.0.2.2')).toBe(true);
    expect(guard.check('192.0.2.4', 'alice')).toEqual({ kind: 'allow' });
    guard.failure('192.0.2.4', null, 'b'); // full again
    expect(guard.check('192.0.2.6', null)).toMatchObject({ kind: 'blocked', reason: 'table-full' });
    advance(DEFAULT_GUARD.blockForMs + 1);
    expect(guard.check('192.0.2.6', null)).toEqual({ kind: 'allow' });
  });

  it('stays within its memory bound', () => {
    const { guard } = setup({ maxEntries: 100 });
    for (let i = 0; i < 1000; i++) guard.failure(`10.0.${i >> 8}.${i & 255}`, `u${i}`, 'f');
    expect((guard as unknown as { sources: Map<string, unknown> }).sources.size).toBeLessThanOrEqual(100);
  });
});
