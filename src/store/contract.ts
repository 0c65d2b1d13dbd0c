/**
 * The behaviour every Store backend must show. A backend's test file calls
 * `storeContract('sqlite :memory:', () => openSqliteStore(':memory:'))`; `open` must return a fresh,
 * empty store on every call.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent, PasscodeRow, Store } from './types.js';
import { rolloutContract } from './contract-rollout.js';
import { passcodeLimitsContract } from './contract-limits.js';
import { twoFactorContract } from './contract-twofactor.js';

const T0 = 1_760_000_000_000; // beyond 2^31 on purpose: times must not be truncated to 32 bits

/** A complete passcode row with sensible defaults. */
export function samplePasscode(over: Partial<PasscodeRow> = {}): PasscodeRow {
  return {
    id: 'pc_1',
    username: 'alice@example.org',
    name: 'Thunderbird laptop',
    scopes: ['imap', 'smtp'],
    tag: 'tag-1',
    hash: '$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234',
    createdAt: T0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    lastUsedIp: null,
    lastUsedClient: null,
    allowedNetworks: null,
    unusedWarnedAt: null,
    ...over,
  };
}

/** A complete audit event with sensible defaults. */
export function sampleAudit(over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    ts: T0,
    type: 'auth',
    username: 'alice@example.org',
    protocol: 'imap',
    ip: '192.0.2.1',
    passcodeId: null,
    outcome: 'accept',
    reason: null,
    sessionId: 's1',
    detail: null,
    ...over,
  };
}

/** Registers the backend-independent Store test suite under `describe(name)`. */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let closed = false;
    beforeEach(async () => {
      store = await open();
      closed = false;
    });
    afterEach(async () => {
      if (!closed) await store.close();
    });

    describe('accounts', () => {
      it('returns undefined for an unknown account', async () => {
        expect(await store.getAccount('nobody')).toBeUndefined();
        expect(await store.listAccounts()).toEqual([]);
      });

      it('sets, changes and clears the enforcement override', async () => {
        await store.setEnforcement('alice', true, T0, 'admin');
        expect(await store.getAccount('alice')).toEqual({
          username: 'alice',
          enforced: true,
          enforcedBy: 'admin',
          createdAt: T0,
          updatedAt: T0,
        });
        await store.setEnforcement('alice', false, T0 + 5, 'admin');
        expect(await store.getAccount('alice')).toEqual({
          username: 'alice',
          enforced: false,
          enforcedBy: 'admin',
          createdAt: T0,
          updatedAt: T0 + 5,
        });
        await store.setEnforcement('alice', null, T0 + 9, 'admin');
        expect(await store.getAccount('alice')).toEqual({
          username: 'alice',
          enforced: null,
          enforcedBy: null,
          createdAt: T0,
          updatedAt: T0 + 9,
        });
      });

      it('enforced_by: the portal never replaces or clears an admin override; an admin takes over a portal one', async () => {
        expect(await store.setEnforcement('p', true, T0, 'portal')).toBe(true);
        expect(await store.getAccount('p')).toMatchObject({ enforced: true, enforcedBy: 'portal' });
        expect(await store.setEnforcement('p', null, T0 + 1, 'portal')).toBe(true); // the user's own: cleared
        expect(await store.getAccount('p')).toMatchObject({ enforced: null, enforcedBy: null });

        await store.setEnforcement('a', true, T0, 'admin');
        expect(await store.setEnforcement('a', true, T0 + 1, 'portal')).toBe(false);
        expect(await store.setEnforcement('a', null, T0 + 2, 'portal')).toBe(false);
        expect(await store.getAccount('a')).toEqual({ username: 'a', enforced: true, enforcedBy: 'admin', createdAt: T0, updatedAt: T0 });
        await store.setEnforcement('off', false, T0, 'admin'); // "never enforce" (a service account)
        expect(await store.setEnforcement('off', true, T0 + 1, 'portal')).toBe(false);
        expect(await store.getAccount('off')).toMatchObject({ enforced: false, enforcedBy: 'admin' });

        await store.setEnforcement('t', true, T0, 'portal');
        expect(await store.setEnforcement('t', true, T0 + 1, 'admin')).toBe(true);
        expect(await store.getAccount('t')).toMatchObject({ enforced: true, enforcedBy: 'admin' });
        expect(await store.setEnforcement('t', null, T0 + 2, 'portal')).toBe(false);
        expect(await store.setEnforcement('t', null, T0 + 3, 'admin')).toBe(true); // release
        expect(await store.getAccount('t')).toMatchObject({ enforced: null, enforcedBy: null });
      });

      it('lists accounts with an override or a passcode, sorted by username', async () => {
        await store.setEnforcement('carol', false, T0, 'admin');
        await store.setEnforcement('alice', true, T0, 'admin');
        await store.setEnforcement('dave', true, T0, 'admin');
        await store.setEnforcement('dave', null, T0 + 1, 'admin'); // cleared, no passcodes: not listed
        await store.insertPasscode(samplePasscode({ username: 'bob' }));
        const list = await store.listAccounts();
        expect(list.map((a) => [a.username, a.enforced])).toEqual([
          ['alice', true],
          ['bob', null],
          ['carol', false],
        ]);
        expect(await store.getAccount('dave')).toMatchObject({ enforced: null });
      });

      it('insertPasscode creates the account without touching an existing override', async () => {
        await store.insertPasscode(samplePasscode({ username: 'new' }));
        expect(await store.getAccount('new')).toMatchObject({ username: 'new', enforced: null });
        await store.setEnforcement('old', true, T0, 'admin');
        await store.insertPasscode(samplePasscode({ id: 'pc_2', username: 'old', createdAt: T0 + 50 }));
        expect(await store.getAccount('old')).toEqual({
          username: 'old',
          enforced: true,
          enforcedBy: 'admin',
          createdAt: T0,
          updatedAt: T0,
        });
      });
    });

    describe('passcodes', () => {
      it('round-trips every field', async () => {
        const full = samplePasscode({
          scopes: ['imap', 'smtp', 'pop3'],
          expiresAt: T0 + 86_400_000,
          revokedAt: T0 + 1,
          lastUsedAt: T0 + 2,
          lastUsedIp: '2001:db8::1',
          lastUsedClient: 'Thunderbird/128.0',
        });
        await store.insertPasscode(full);
        expect(await store.getPasscode(full.id)).toEqual(full);
        const none = samplePasscode({ id: 'pc_none', tag: 'tag-none', scopes: [] });
        await store.insertPasscode(none);
        expect(await store.getPasscode('pc_none')).toEqual(none);
        const one = samplePasscode({ id: 'pc_one', tag: 'tag-one', scopes: ['pop3'] });
        await store.insertPasscode(one);
        expect(await store.getPasscode('pc_one')).toEqual(one);
      });

      it('finds by (username, tag) only', async () => {
        const pc = samplePasscode();
        await store.insertPasscode(pc);
        expect(await store.findPasscodeByTag(pc.username, pc.tag)).toEqual(pc);
        expect(await store.findPasscodeByTag('mallory', pc.tag)).toBeUndefined();
        expect(await store.findPasscodeByTag(pc.username, 'tag-x')).toBeUndefined();
        expect(await store.getPasscode('pc_missing')).toBeUndefined();
      });

      it('allows the same tag for different users', async () => {
        await store.insertPasscode(samplePasscode({ id: 'a', username: 'u1', tag: 't' }));
        await store.insertPasscode(samplePasscode({ id: 'b', username: 'u2', tag: 't' }));
        expect((await store.findPasscodeByTag('u1', 't'))?.id).toBe('a');
        expect((await store.findPasscodeByTag('u2', 't'))?.id).toBe('b');
      });

      it("lists a user's passcodes oldest first, revoked included", async () => {
        await store.insertPasscode(samplePasscode({ id: 'p3', tag: 't3', createdAt: T0 + 3 }));
        await store.insertPasscode(samplePasscode({ id: 'p1', tag: 't1', createdAt: T0 + 1 }));
        await store.insertPasscode(samplePasscode({ id: 'p2', tag: 't2', createdAt: T0 + 2, revokedAt: T0 + 4 }));
        await store.insertPasscode(samplePasscode({ id: 'x', username: 'other', tag: 't1' }));
        const ids = (await store.listPasscodes('alice@example.org')).map((p) => p.id);
        expect(ids).toEqual(['p1', 'p2', 'p3']);
        expect(await store.listPasscodes('nobody')).toEqual([]);
      });

      it('rejects a duplicate id', async () => {
        await store.insertPasscode(samplePasscode());
        await expect(store.insertPasscode(samplePasscode({ username: 'bob', tag: 'other', name: 'dup' }))).rejects.toThrow();
        expect((await store.getPasscode('pc_1'))?.name).toBe('Thunderbird laptop');
        expect(await store.listPasscodes('bob')).toEqual([]);
        expect((await store.listAccounts()).map((a) => a.username)).toEqual(['alice@example.org']);
      });

      it('rejects a duplicate (username, tag)', async () => {
        await store.insertPasscode(samplePasscode());
        await expect(store.insertPasscode(samplePasscode({ id: 'pc_2', name: 'dup' }))).rejects.toThrow();
        expect(await store.getPasscode('pc_2')).toBeUndefined();
        expect(await store.listPasscodes('alice@example.org')).toHaveLength(1);
      });

      it('revokes once, only for the owning user', async () => {
        await store.insertPasscode(samplePasscode());
        expect(await store.revokePasscode('bob', 'pc_1', T0 + 10)).toBe(false);
        expect((await store.getPasscode('pc_1'))?.revokedAt).toBeNull();
        expect(await store.revokePasscode('alice@example.org', 'pc_missing', T0 + 10)).toBe(false);
        expect(await store.revokePasscode('alice@example.org', 'pc_1', T0 + 10)).toBe(true);
        expect(await store.revokePasscode('alice@example.org', 'pc_1', T0 + 20)).toBe(false);
        expect((await store.getPasscode('pc_1'))?.revokedAt).toBe(T0 + 10);
      });

      it('replaces the scopes of an unrevoked passcode, only for the owning user', async () => {
        await store.insertPasscode(samplePasscode());
        expect(await store.setPasscodeScopes('bob', 'pc_1', ['smtp'])).toBe(false);
        expect(await store.setPasscodeScopes('alice@example.org', 'pc_missing', ['smtp'])).toBe(false);
        expect(await store.setPasscodeScopes('alice@example.org', 'pc_1', ['smtp'])).toBe(true);
        expect((await store.getPasscode('pc_1'))?.scopes).toEqual(['smtp']);
        expect((await store.listPasscodes('alice@example.org'))[0]?.scopes).toEqual(['smtp']);
        await store.revokePasscode('alice@example.org', 'pc_1', T0 + 10);
        expect(await store.setPasscodeScopes('alice@example.org', 'pc_1', ['imap', 'smtp'])).toBe(false);
        expect((await store.getPasscode('pc_1'))?.scopes).toEqual(['smtp']);
      });

      it('records use', async () => {
        await store.insertPasscode(samplePasscode());
        await store.recordPasscodeUse('pc_1', T0 + 100, '198.51.100.7', 'K-9 Mail');
        expect(await store.getPasscode('pc_1')).toMatchObject({
          lastUsedAt: T0 + 100,
          lastUsedIp: '198.51.100.7',
          lastUsedClient: 'K-9 Mail',
        });
        await store.recordPasscodeUse('pc_1', T0 + 200, null, null);
        expect(await store.getPasscode('pc_1')).toMatchObject({
          lastUsedAt: T0 + 200,
          lastUsedIp: null,
          lastUsedClient: null,
        });
        await expect(store.recordPasscodeUse('pc_missing', T0, null, null)).resolves.toBeUndefined();
      });

      it('reports passcodes revoked at or after a time', async () => {
        for (const [id, revokedAt] of [
          ['a', null],
          ['b', T0 + 5],
          ['c', T0 + 10],
          ['d', T0 + 15],
        ] as const) {
          await store.insertPasscode(samplePasscode({ id, tag: `t-${id}`, username: `u-${id}` }));
          if (revokedAt !== null) await store.revokePasscode(`u-${id}`, id, revokedAt);
        }
        const since = await store.revokedSince(T0 + 10);
        expect(since.sort((x, y) => x.revokedAt - y.revokedAt)).toEqual([
          { id: 'c', username: 'u-c', revokedAt: T0 + 10 },
          { id: 'd', username: 'u-d', revokedAt: T0 + 15 },
        ]);
        expect(await store.revokedSince(T0 + 16)).toEqual([]);
      });
    });

    describe('audit', () => {
      it('appends with increasing ids and returns events oldest first', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 5; i++) ids.push(await store.appendAudit(sampleAudit({ ts: T0 + i })));
        for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
        const all = await store.queryAudit({});
        expect(all.map((e) => e.id)).toEqual(ids);
        expect(all[0]).toEqual({ ...sampleAudit({ ts: T0 }), id: ids[0] });
      });

      it('filters by username, type, afterId and since', async () => {
        const a1 = await store.appendAudit(sampleAudit({ ts: T0 + 1, username: 'a', type: 'auth' }));
        const b1 = await store.appendAudit(sampleAudit({ ts: T0 + 2, username: 'b', type: 'auth' }));
        const a2 = await store.appendAudit(sampleAudit({ ts: T0 + 3, username: 'a', type: 'passcode.create' }));
        const n1 = await store.appendAudit(sampleAudit({ ts: T0 + 4, username: null, type: 'upstream.error' }));
        const a3 = await store.appendAudit(sampleAudit({ ts: T0 + 5, username: 'a', type: 'auth' }));
        const ids = async (q: Parameters<Store['queryAudit']>[0]) => (await store.queryAudit(q)).map((e) => e.id);
        expect(await ids({ username: 'a' })).toEqual([a1, a2, a3]);
        expect(await ids({ type: 'auth' })).toEqual([a1, b1, a3]);
        expect(await ids({ afterId: a2 })).toEqual([n1, a3]);
        expect(await ids({ since: T0 + 3 })).toEqual([a2, n1, a3]);
        expect(await ids({ username: 'a', type: 'auth', afterId: a1 })).toEqual([a3]);
        expect(await ids({ username: 'a', since: T0 + 2, limit: 1 })).toEqual([a3]);
        expect(await ids({ username: 'zed' })).toEqual([]);
      });

      it('returns the newest N, oldest first; default limit 100', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 105; i++) ids.push(await store.appendAudit(sampleAudit({ ts: T0 + i })));
        expect((await store.queryAudit({ limit: 3 })).map((e) => e.id)).toEqual(ids.slice(-3));
        expect((await store.queryAudit({})).map((e) => e.id)).toEqual(ids.slice(-100));
        expect((await store.queryAudit({ afterId: ids[99]!, limit: 2 })).map((e) => e.id)).toEqual(ids.slice(-2));
      });

      it('returns the oldest N after afterId with oldestFirst (a follower never skips events)', async () => {
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) ids.push(await store.appendAudit(sampleAudit({ ts: T0 + i, type: i % 2 ? 'auth' : 'x' })));
        expect((await store.queryAudit({ afterId: ids[1]!, limit: 3, oldestFirst: true })).map((e) => e.id)).toEqual(ids.slice(2, 5));
        expect((await store.queryAudit({ afterId: ids[4]!, limit: 3, oldestFirst: true })).map((e) => e.id)).toEqual(ids.slice(5));
        expect((await store.queryAudit({ type: 'x', limit: 2, oldestFirst: true })).map((e) => e.id)).toEqual([ids[0], ids[2]]);
      });

      it('writeBatch: audit events in order with their ids, and last use, in one transaction', async () => {
        await store.insertPasscode(samplePasscode({ id: 'pc_b', tag: 'tag-b' }));
        const before = await store.appendAudit(sampleAudit({ ts: T0 }));
        const events = [0, 1, 2].map((i) => sampleAudit({ ts: T0 + i, username: `u${i}`, detail: { i } }));
        const ids = await store.writeBatch({ audit: events, passcodeUses: [{ id: 'pc_b', at: T0 + 9, ip: '192.0.2.9', client: 'Mail' }] });
        expect(ids).toHaveLength(3);
        expect(ids[0]!).toBeGreaterThan(before);
        expect((await store.queryAudit({ afterId: before })).map((e) => [e.id, e.username, e.detail])).toEqual(
          events.map((e, i) => [ids[i], e.username, e.detail]),
        );
        expect(await store.getPasscode('pc_b')).toMatchObject({ lastUsedAt: T0 + 9, lastUsedIp: '192.0.2.9', lastUsedClient: 'Mail' });
        expect(await store.writeBatch({ audit: [], passcodeUses: [] })).toEqual([]);
        // An event that violates the schema makes the whole batch fail: the last use is not written either.
        const bad = { ...sampleAudit(), type: null } as unknown as AuditEvent;
        await expect(
          store.writeBatch({ audit: [bad], passcodeUses: [{ id: 'pc_b', at: T0 + 99, ip: null, client: null }] }),
        ).rejects.toThrow();
        expect((await store.getPasscode('pc_b'))?.lastUsedAt).toBe(T0 + 9);
      });

      it('round-trips detail JSON', async () => {
        const detail = {
          n: 1.5,
          s: 'ünïcödé ✉',
          b: false,
          nil: null,
          arr: [1, 'two', { three: 3 }],
          nested: { deep: { x: 'y' } },
        };
        const id = await store.appendAudit(sampleAudit({ detail }));
        const [ev] = await store.queryAudit({ afterId: id - 1 });
        expect(ev?.detail).toEqual(detail);
        const id2 = await store.appendAudit(sampleAudit({ detail: {} }));
        expect((await store.queryAudit({ afterId: id2 - 1 }))[0]?.detail).toEqual({});
      });
    });

    it('audit retention: pruneAudit removes only events older than the cutoff', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 6; i++) ids.push(await store.appendAudit(sampleAudit({ ts: T0 + i * 1000 })));
      expect(await store.pruneAudit(T0 + 3000)).toBe(3);
      expect((await store.queryAudit({})).map((e) => e.id)).toEqual(ids.slice(3));
      expect(await store.pruneAudit(T0 + 3000)).toBe(0);
      expect(await store.pruneAudit(T0 - 1)).toBe(0);
      // Ids keep increasing after a prune: --follow readers never see an id twice.
      expect(await store.appendAudit(sampleAudit())).toBeGreaterThan(ids.at(-1)!);
      expect((await store.queryAudit({})).length).toBe(4);
    });

    it('handles unicode usernames as exact keys', async () => {
      const users = ['jürgen@exämple.org', '用户@例子.公司', '👩‍💻@example.org', 'o\'brien"; --'];
      const nfc = 'ren\u00e9@example.org';
      const nfd = 'rene\u0301@example.org'; // normalisation is the caller's job; the store compares exactly
      for (const [i, u] of [...users, nfc, nfd].entries()) {
        await store.insertPasscode(samplePasscode({ id: `u${i}`, username: u, tag: 'same' }));
        await store.setEnforcement(u, true, T0, 'admin');
        await store.appendAudit(sampleAudit({ username: u, detail: { i } }));
      }
      for (const [i, u] of [...users, nfc, nfd].entries()) {
        expect((await store.findPasscodeByTag(u, 'same'))?.id).toBe(`u${i}`);
        expect((await store.listPasscodes(u)).map((p) => p.username)).toEqual([u]);
        expect(await store.getAccount(u)).toMatchObject({ username: u, enforced: true });
        expect((await store.queryAudit({ username: u })).map((e) => e.detail)).toEqual([{ i }]);
      }
      expect(new Set((await store.listAccounts()).map((a) => a.username))).toEqual(new Set([...users, nfc, nfd]));
    });

    describe('two-factor', () => twoFactorContract(() => store));
    describe('rollout', () => rolloutContract(() => store));
    describe('passcode limits', () => passcodeLimitsContract(() => store));

    it('is unusable after close()', async () => {
      await store.setEnforcement('alice', true, T0, 'admin');
      await store.close();
      closed = true;
      await expect(store.getAccount('alice')).rejects.toThrow();
      await expect(store.insertPasscode(samplePasscode())).rejects.toThrow();
      await expect(store.appendAudit(sampleAudit())).rejects.toThrow();
      await expect(store.queryAudit({ username: 'alice', type: 'x' })).rejects.toThrow();
    });
  });
}
