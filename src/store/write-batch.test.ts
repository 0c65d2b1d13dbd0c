/**
 * The write batcher over a real SQLite store (:memory:): one transaction per tick, ids in order,
 * a full batch written at once, everything flushed on close, a failed batch retried once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sampleAudit, samplePasscode } from './contract.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store, WriteBatch } from './types.js';
import { batchWrites, readsAfterWrites } from './write-batch.js';

let store: Store;
let batches: WriteBatch[];
/** Fails the next `failNext` writeBatch calls. */
let failNext = 0;

beforeEach(async () => {
  const real = await openSqliteStore(':memory:');
  batches = [];
  failNext = 0;
  store = Object.assign(Object.create(real) as Store, {
    writeBatch: (b: WriteBatch) => {
      batches.push(b);
      if (failNext > 0) {
        failNext--;
        return Promise.reject(new Error('disk full'));
      }
      return real.writeBatch(b);
    },
  });
  await store.insertPasscode(samplePasscode({ id: 'pc_1', tag: 't1' }));
});
afterEach(() => store.close());

describe('batchWrites', () => {
  it('queues a tick of events and last uses, then commits them in one batch with ids in order', async () => {
    const w = batchWrites(store, { tickMs: 30 });
    const ids = Promise.all([0, 1, 2, 3].map((i) => w.appendAudit(sampleAudit({ ts: i, username: `u${i}` }))));
    await w.recordPasscodeUse('pc_1', 5, '192.0.2.1', 'A');
    await w.recordPasscodeUse('pc_1', 6, '192.0.2.2', 'B'); // only the newest use is written
    expect(w.queued).toBe(5);
    expect(await store.queryAudit({})).toEqual([]); // nothing written before the tick
    const got = await ids;
    expect(batches).toHaveLength(1);
    expect(batches[0]!.passcodeUses).toEqual([{ id: 'pc_1', at: 6, ip: '192.0.2.2', client: 'B' }]);
    expect((await store.queryAudit({})).map((e) => [e.id, e.username])).toEqual(got.map((id, i) => [id, `u${i}`]));
    expect((await store.getPasscode('pc_1'))?.lastUsedIp).toBe('192.0.2.2');
    await w.close();
  });

  it('writes a full batch at once, without waiting for the tick', async () => {
    const w = batchWrites(store, { tickMs: 60_000, maxRows: 3 });
    const t0 = Date.now();
    await Promise.all([1, 2, 3].map((i) => w.appendAudit(sampleAudit({ ts: i }))));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(batches).toHaveLength(1);
    await w.close();
  });

  it('close() commits what is queued (a long tick loses nothing on a clean stop); later writes go straight to the store', async () => {
    const w = batchWrites(store, { tickMs: 60_000 });
    for (let i = 0; i < 10; i++) void w.appendAudit(sampleAudit({ ts: i }));
    await w.close();
    expect(await store.queryAudit({})).toHaveLength(10);
    await w.appendAudit(sampleAudit({ ts: 99 }));
    expect(await store.queryAudit({})).toHaveLength(11);
    expect(batches).toHaveLength(1);
  });

  it('tick 0: no batching, each write goes to the store at once', async () => {
    const w = batchWrites(store, { tickMs: 0 });
    await w.appendAudit(sampleAudit());
    await w.recordPasscodeUse('pc_1', 7, null, null);
    expect(batches).toHaveLength(0);
    expect(await store.queryAudit({})).toHaveLength(1);
    expect((await store.getPasscode('pc_1'))?.lastUsedAt).toBe(7);
  });

  it('a failed batch is reported and retried once with the next tick; a second failure rejects its events', async () => {
    const errors: number[] = [];
    const w = batchWrites(store, { tickMs: 10, onError: (_e, rows) => errors.push(rows) });
    failNext = 1;
    const first = w.appendAudit(sampleAudit({ username: 'kept' }));
    expect(await first).toBeGreaterThan(0);
    expect(errors).toEqual([1]);
    expect((await store.queryAudit({})).map((e) => e.username)).toEqual(['kept']);
    failNext = 2;
    await expect(w.appendAudit(sampleAudit({ username: 'lost' }))).rejects.toThrow(/disk full/);
    expect(errors).toEqual([1, 1, 1]);
    await w.close();
  });

  it('readsAfterWrites: a read during a batch commit waits for that batch too (it left the queue already)', async () => {
    let release!: () => void;
    const slow = Object.assign(Object.create(store) as Store, {
      writeBatch: async (b: WriteBatch) => {
        await new Promise<void>((r) => {
          release = r;
        });
        return store.writeBatch(b);
      },
    });
    const w = batchWrites(slow, { tickMs: 5 });
    const view = readsAfterWrites(store, w);
    void w.appendAudit(sampleAudit({ ts: 1, username: 'inflight' }));
    await new Promise((r) => setTimeout(r, 30)); // the tick took the event and is committing it
    expect(w.queued).toBe(0);
    const read = view.queryAudit({ username: 'inflight' });
    setTimeout(() => release(), 20);
    expect((await read).map((e) => e.username)).toEqual(['inflight']);
    await w.close();
  });

  it('readsAfterWrites: the process reads its own queued events (queryAudit, listPasscodes commit first); getPasscode does not wait', async () => {
    const w = batchWrites(store, { tickMs: 60_000 });
    const view = readsAfterWrites(store, w);
    void w.appendAudit(sampleAudit({ username: 'me' }));
    await w.recordPasscodeUse('pc_1', 42, null, null);
    expect((await view.getPasscode('pc_1'))?.lastUsedAt).toBeNull(); // the login path's read: no flush
    expect(batches).toHaveLength(0);
    await view.queryAudit({ type: 'account.enforce' }); // a follower of another type: no commit
    expect(batches).toHaveLength(0);
    expect((await view.queryAudit({})).map((e) => e.username)).toEqual(['me']);
    expect((await view.listPasscodes(samplePasscode().username))[0]?.lastUsedAt).toBe(42);
    void w.appendAudit(sampleAudit({ username: 'at-close' }));
    await view.close(); // commits the queue, then closes the store
    expect(w.queued).toBe(0);
  });
});
