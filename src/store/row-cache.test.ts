/**
 * The row cache over real SQLite stores: warm reads served from memory (misses too), every
 * mutation and invalidate() forgetting, the ttl, the epoch (null: bypass; changed: forget), a read
 * that overlaps a write not filling the cache, a commit by another connection seen at the next
 * read — and the whole store contract passing through the overlay.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { samplePasscode, storeContract } from './contract.js';
import { overlayStore } from './overlay.js';
import { cacheRows, type RowCache, rowCacheFor } from './row-cache.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

const tmp = mkdtempSync(join(tmpdir(), 'mailgate-rowcache-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The overlay must be invisible to every caller while nothing changes elsewhere.
storeContract('sqlite :memory: behind the row cache', async () => {
  const real = await openSqliteStore(':memory:');
  return cacheRows(real, { max: 1000, ttlMs: 60_000, epoch: () => 0 }).store;
});

let real: Store;
let reads: { account: number; passcode: number };
let now: number;
let epoch: number | null;
let rows: RowCache;
let store: Store;

beforeEach(async () => {
  real = await openSqliteStore(':memory:');
  reads = { account: 0, passcode: 0 };
  const counted = overlayStore(real, {
    getAccount: (u) => {
      reads.account++;
      return real.getAccount(u);
    },
    getPasscode: (id) => {
      reads.passcode++;
      return real.getPasscode(id);
    },
  });
  now = 1_000;
  epoch = 7;
  rows = cacheRows(counted, { max: 100, ttlMs: 5_000, epoch: () => epoch, now: () => now });
  store = rows.store;
  await real.insertPasscode(samplePasscode({ id: 'pc_1', username: 'alice', tag: 't1' }));
  await real.setEnforcement('alice', true, 1, 'admin');
});
afterEach(() => real.close());

describe('cacheRows', () => {
  it('serves a warm account and passcode from memory, and caches a miss', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await store.getAccount('alice'))?.enforced).toBe(true);
      expect((await store.getPasscode('pc_1'))?.id).toBe('pc_1');
      expect(await store.getAccount('nobody')).toBeUndefined();
      expect(await store.getPasscode('pc_none')).toBeUndefined();
    }
    expect(reads).toEqual({ account: 2, passcode: 2 });
    expect([rows.hits, rows.misses]).toEqual([8, 4]);
  });

  // Each mutating method through the overlay: the next read is the store's, showing the change.
  const mutations: Array<[string, (s: Store) => Promise<unknown>, (s: Store) => Promise<unknown>]> = [
    ['setEnforcement', (s) => s.setEnforcement('alice', false, 2, 'admin'), async (s) => (await s.getAccount('alice'))?.enforced],
    ['revokePasscode', (s) => s.revokePasscode('alice', 'pc_1', 3), async (s) => (await s.getPasscode('pc_1'))?.revokedAt],
    ['setPasscodeScopes', (s) => s.setPasscodeScopes('alice', 'pc_1', ['smtp']), async (s) => (await s.getPasscode('pc_1'))?.scopes],
    [
      'updatePasscode',
      (s) => s.updatePasscode('alice', 'pc_1', { allowedNetworks: ['10.0.0.0/8'] }),
      async (s) => (await s.getPasscode('pc_1'))?.allowedNetworks,
    ],
    ['recordPasscodeUse', (s) => s.recordPasscodeUse('pc_1', 9, '192.0.2.9', 'X'), async (s) => (await s.getPasscode('pc_1'))?.lastUsedAt],
    [
      'writeBatch (last use)',
      (s) => s.writeBatch({ audit: [], passcodeUses: [{ id: 'pc_1', at: 10, ip: '192.0.2.1', client: null }] }),
      async (s) => (await s.getPasscode('pc_1'))?.lastUsedAt,
    ],
    [
      'insertPasscode (creates the account row)',
      (s) => s.insertPasscode(samplePasscode({ id: 'pc_2', username: 'bob', tag: 't2' })),
      async (s) => (await s.getAccount('bob'))?.username,
    ],
  ];
  it.each(mutations)('%s drops what it changes', async (_name, mutate, read) => {
    await store.getAccount('bob'); // a cached miss, for insertPasscode
    const before = await read(store);
    expect(await read(store)).toEqual(before); // now cached
    const readsBefore = reads.account + reads.passcode;
    await mutate(store);
    const after = await read(store);
    expect(after).not.toEqual(before);
    expect(after).toEqual(await read(real));
    expect(reads.account + reads.passcode).toBe(readsBefore + 1);
  });

  it('an audit-only batch and other unrelated writes keep the rows', async () => {
    await store.getPasscode('pc_1');
    await store.writeBatch({ audit: [], passcodeUses: [] });
    await store.createPortalSession({ id: 's', username: 'alice', stage: 'complete', csrf: 'c', ip: null, createdAt: 1, lastSeenAt: 1 });
    await store.getPasscode('pc_1');
    expect(reads.passcode).toBe(1);
  });

  it('invalidate() forgets everything', async () => {
    await store.getAccount('alice');
    await store.getPasscode('pc_1');
    await real.revokePasscode('alice', 'pc_1', 5); // behind its back: served stale until told
    expect((await store.getPasscode('pc_1'))?.revokedAt).toBeNull();
    rows.invalidate();
    expect((await store.getPasscode('pc_1'))?.revokedAt).toBe(5);
    await store.getAccount('alice');
    expect(reads).toEqual({ account: 2, passcode: 2 });
  });

  it('a row is read again once the ttl has passed', async () => {
    await store.getPasscode('pc_1');
    now += 4_999;
    await store.getPasscode('pc_1');
    expect(reads.passcode).toBe(1);
    now += 2;
    await store.getPasscode('pc_1');
    expect(reads.passcode).toBe(2);
  });

  it('epoch null: every read goes to the store; a new epoch forgets what was cached', async () => {
    await store.getPasscode('pc_1');
    epoch = null; // e.g. the Redis push channel is down
    await real.revokePasscode('alice', 'pc_1', 5);
    expect((await store.getPasscode('pc_1'))?.revokedAt).toBe(5);
    await store.getPasscode('pc_1');
    expect(reads.passcode).toBe(3);
    epoch = 8;
    await store.getPasscode('pc_1');
    await store.getPasscode('pc_1');
    expect(reads.passcode).toBe(4);
    expect((await store.getAccount('alice'))?.enforced).toBe(true);
    await real.setEnforcement('alice', false, 6, 'admin');
    epoch = 9; // the link came back: what was cached under 8 is gone
    expect((await store.getAccount('alice'))?.enforced).toBe(false);
  });

  it('a read that overlaps a mutation does not fill the cache with the old row', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = cacheRows(
      overlayStore(real, {
        getPasscode: async (id) => {
          const row = await real.getPasscode(id); // read before the revocation commits
          await gate;
          return row;
        },
      }),
      { max: 10, ttlMs: 60_000, epoch: () => 1 },
    );
    const stale = slow.store.getPasscode('pc_1');
    await slow.store.revokePasscode('alice', 'pc_1', 5);
    release();
    expect((await stale)?.revokedAt).toBeNull(); // that read began before the write
    expect((await slow.store.getPasscode('pc_1'))?.revokedAt).toBe(5);
  });
});

describe('rowCacheFor (SQLite: PRAGMA data_version)', () => {
  it('a revocation committed by another connection (the CLI) is seen at the very next read', async () => {
    const path = join(tmp, 'two-connections.db');
    const gate = await openSqliteStore(path);
    const cli = await openSqliteStore(path);
    try {
      await cli.insertPasscode(samplePasscode({ id: 'pc_9', username: 'carol', tag: 't9' }));
      const cache = rowCacheFor(gate, gate, { ttlMs: 60_000, link: null, now: () => 0 })!;
      expect((await cache.store.getPasscode('pc_9'))?.revokedAt).toBeNull();
      await cache.store.getPasscode('pc_9');
      expect(cache.hits).toBe(1);
      await cli.revokePasscode('carol', 'pc_9', 42);
      expect((await cache.store.getPasscode('pc_9'))?.revokedAt).toBe(42);
      // The gate's own writes do not move data_version: they are dropped by the overlay instead.
      await cache.store.getPasscode('pc_9');
      expect(cache.hits).toBe(2);
    } finally {
      await gate.close();
      await cli.close();
    }
  });

  it('no cache for a store that cannot tell of other writers without a push channel, nor with ttl 0', () => {
    const postgresLike = overlayStore(real, { changeVersion: undefined });
    expect(rowCacheFor(postgresLike, postgresLike, { ttlMs: 5_000, link: null, now: () => 0 })).toBeNull();
    expect(rowCacheFor(postgresLike, postgresLike, { ttlMs: 5_000, link: { epoch: 1 }, now: () => 0 })).not.toBeNull();
    expect(rowCacheFor(real, real, { ttlMs: 0, link: null, now: () => 0 })).toBeNull();
  });
});
