/**
 * The two-factor part of the Store contract (TOTP secrets, emergency codes, portal sessions).
 * Registered by `storeContract` in contract.ts, so every backend runs it.
 */
import { expect, it } from 'vitest';
import type { PortalSessionRow, Store } from './types.js';

const T0 = 1_760_000_000_000;
const U = 'alice@example.org';

function sampleSession(over: Partial<PortalSessionRow> = {}): PortalSessionRow {
  return { id: 'sess-hash-1', username: U, stage: 'password', csrf: 'csrf-1', ip: '192.0.2.9', createdAt: T0, lastSeenAt: T0, ...over };
}

/** Registers the cases; `store()` returns the fresh store of the running test. */
export function twoFactorContract(store: () => Store): void {
  it('totp: a pending secret becomes active only when confirmed with the same secret', async () => {
    const s = store();
    expect(await s.getTotp(U)).toBeUndefined();
    await s.setPendingTotp(U, 'enc-A', T0);
    expect(await s.getTotp(U)).toEqual({
      username: U,
      secret: null,
      enabledAt: null,
      lastStep: null,
      pendingSecret: 'enc-A',
      pendingAt: T0,
    });
    await s.setPendingTotp(U, 'enc-B', T0 + 1); // a second tab started over: only B may be confirmed
    expect(await s.activateTotp(U, 'enc-A', T0 + 2, 100)).toBe(false);
    expect(await s.activateTotp(U, 'enc-B', T0 + 3, 100)).toBe(true);
    expect(await s.getTotp(U)).toEqual({
      username: U,
      secret: 'enc-B',
      enabledAt: T0 + 3,
      lastStep: 100,
      pendingSecret: null,
      pendingAt: null,
    });
    expect(await s.activateTotp(U, 'enc-B', T0 + 4, 101)).toBe(false);
  });

  it('totp: re-enrolling keeps the active secret until the new one is confirmed', async () => {
    const s = store();
    await s.setPendingTotp(U, 'old', T0);
    await s.activateTotp(U, 'old', T0, 5);
    await s.setPendingTotp(U, 'new', T0 + 10);
    expect(await s.getTotp(U)).toMatchObject({ secret: 'old', enabledAt: T0, lastStep: 5, pendingSecret: 'new' });
    expect(await s.activateTotp(U, 'new', T0 + 20, 9)).toBe(true);
    expect(await s.getTotp(U)).toMatchObject({ secret: 'new', enabledAt: T0 + 20, lastStep: 9, pendingSecret: null });
  });

  it('totp: each step is accepted once and never an earlier one (replay guard)', async () => {
    const s = store();
    expect(await s.useTotpStep(U, 10)).toBe(false); // no secret at all
    await s.setPendingTotp(U, 'x', T0);
    expect(await s.useTotpStep(U, 10)).toBe(false); // only pending
    await s.activateTotp(U, 'x', T0, 10);
    expect(await s.useTotpStep(U, 10)).toBe(false);
    expect(await s.useTotpStep(U, 9)).toBe(false);
    expect(await s.useTotpStep(U, 11)).toBe(true);
    expect(await s.useTotpStep(U, 11)).toBe(false);
    expect((await s.getTotp(U))?.lastStep).toBe(11);
    const both = await Promise.all([s.useTotpStep(U, 12), s.useTotpStep(U, 12)]);
    expect(both.filter(Boolean)).toHaveLength(1);
  });

  it('totp: delete', async () => {
    const s = store();
    expect(await s.deleteTotp(U)).toBe(false);
    await s.setPendingTotp(U, 'x', T0);
    await s.activateTotp(U, 'x', T0, 1);
    expect(await s.deleteTotp(U)).toBe(true);
    expect(await s.getTotp(U)).toBeUndefined();
  });

  it('emergency codes: a set is replaced whole, each code is used once', async () => {
    const s = store();
    expect(await s.listEmergencyCodes(U)).toEqual([]);
    await s.replaceEmergencyCodes(
      U,
      [
        { tag: 't1', hash: 'h1' },
        { tag: 't2', hash: 'h2' },
      ],
      T0,
    );
    await s.replaceEmergencyCodes('bob', [{ tag: 't1', hash: 'hb' }], T0);
    expect(await s.listEmergencyCodes(U)).toEqual([
      { username: U, id: 1, tag: 't1', hash: 'h1', createdAt: T0, usedAt: null },
      { username: U, id: 2, tag: 't2', hash: 'h2', createdAt: T0, usedAt: null },
    ]);
    expect(await s.useEmergencyCode(U, 2, T0 + 5)).toBe(true);
    expect(await s.useEmergencyCode(U, 2, T0 + 6)).toBe(false);
    expect(await s.useEmergencyCode(U, 7, T0 + 6)).toBe(false);
    expect((await s.listEmergencyCodes(U)).map((c) => c.usedAt)).toEqual([null, T0 + 5]);
    await s.replaceEmergencyCodes(U, [{ tag: 't9', hash: 'h9' }], T0 + 10);
    expect(await s.listEmergencyCodes(U)).toEqual([{ username: U, id: 1, tag: 't9', hash: 'h9', createdAt: T0 + 10, usedAt: null }]);
    await s.replaceEmergencyCodes(U, [], T0 + 11);
    expect(await s.listEmergencyCodes(U)).toEqual([]);
    expect(await s.listEmergencyCodes('bob')).toHaveLength(1);
  });

  it('enrolment codes: one per account, replaced whole, used once, not after expiry', async () => {
    const s = store();
    expect(await s.getEnrolCode(U)).toBeUndefined();
    expect(await s.useEnrolCode(U, 't1', T0)).toBe(false);
    await s.setEnrolCode({ username: U, tag: 't1', hash: 'h1', createdAt: T0, expiresAt: T0 + 100 });
    await s.setEnrolCode({ username: 'bob', tag: 't1', hash: 'hb', createdAt: T0, expiresAt: T0 + 100 });
    expect(await s.getEnrolCode(U)).toEqual({ username: U, tag: 't1', hash: 'h1', createdAt: T0, expiresAt: T0 + 100, usedAt: null });
    expect(await s.useEnrolCode(U, 'other', T0 + 1)).toBe(false);
    expect(await s.useEnrolCode(U, 't1', T0 + 100)).toBe(false); // expired at expiresAt
    const both = await Promise.all([s.useEnrolCode(U, 't1', T0 + 5), s.useEnrolCode(U, 't1', T0 + 5)]);
    expect(both.filter(Boolean)).toHaveLength(1);
    expect(await s.useEnrolCode(U, 't1', T0 + 6)).toBe(false);
    expect((await s.getEnrolCode(U))?.usedAt).toBe(T0 + 5);
    // A new code replaces the old one, used or not.
    await s.setEnrolCode({ username: U, tag: 't2', hash: 'h2', createdAt: T0 + 10, expiresAt: T0 + 200 });
    expect(await s.getEnrolCode(U)).toEqual({ username: U, tag: 't2', hash: 'h2', createdAt: T0 + 10, expiresAt: T0 + 200, usedAt: null });
    expect(await s.useEnrolCode(U, 't1', T0 + 11)).toBe(false);
    expect(await s.useEnrolCode(U, 't2', T0 + 11)).toBe(true);
    expect((await s.getEnrolCode('bob'))?.usedAt).toBeNull();
  });

  it('portal sessions: create, read, touch, delete', async () => {
    const s = store();
    const row = sampleSession();
    await s.createPortalSession(row);
    await expect(s.createPortalSession(row)).rejects.toThrow();
    expect(await s.getPortalSession(row.id)).toEqual(row);
    await s.touchPortalSession(row.id, T0 + 50);
    expect((await s.getPortalSession(row.id))?.lastSeenAt).toBe(T0 + 50);
    await s.createPortalSession(sampleSession({ id: 'complete', stage: 'complete', ip: null }));
    expect(await s.getPortalSession('complete')).toMatchObject({ stage: 'complete', ip: null });
    await s.deletePortalSession(row.id);
    expect(await s.getPortalSession(row.id)).toBeUndefined();
    expect(await s.getPortalSession('missing')).toBeUndefined();
  });

  it('portal sessions: delete all of one account; prune idle and old ones', async () => {
    const s = store();
    await s.createPortalSession(sampleSession({ id: 'a1' }));
    await s.createPortalSession(sampleSession({ id: 'a2' }));
    await s.createPortalSession(sampleSession({ id: 'b1', username: 'bob' }));
    expect(await s.deletePortalSessionsOf(U)).toBe(2);
    expect(await s.getPortalSession('b1')).toBeDefined();
    await s.createPortalSession(sampleSession({ id: 'idle', lastSeenAt: T0, createdAt: T0 }));
    await s.createPortalSession(sampleSession({ id: 'old', lastSeenAt: T0 + 100, createdAt: T0 - 1000 }));
    await s.createPortalSession(sampleSession({ id: 'fresh', lastSeenAt: T0 + 100, createdAt: T0 }));
    await s.touchPortalSession('b1', T0 + 100);
    expect(await s.prunePortalSessions(T0 + 50, T0 - 500)).toBe(2);
    expect(await s.getPortalSession('fresh')).toBeDefined();
    expect(await s.getPortalSession('idle')).toBeUndefined();
    expect(await s.getPortalSession('old')).toBeUndefined();
  });
}
