import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';
import { sampleAudit } from '../store/contract.js';
import { pruneAuditOnce, watchRetention } from './retention.js';

const DAY = 86_400_000;

describe('audit retention', () => {
  let store: Store;
  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  it('prunes only events older than the retention and records the prune', async () => {
    const now = 200 * DAY;
    for (const age of [190, 181, 180, 179, 1]) await store.appendAudit(sampleAudit({ ts: now - age * DAY }));
    const removed = await pruneAuditOnce({ store, clock: { now: () => now }, retentionMs: 180 * DAY });
    expect(removed).toBe(2);
    const left = await store.queryAudit({});
    expect(left.map((e) => (now - e.ts) / DAY)).toEqual([180, 179, 1, 0]);
    expect(left.at(-1)).toMatchObject({ type: 'audit.prune', outcome: 'ok', detail: { removed: 2, before: now - 180 * DAY } });
    // Nothing old left: no further prune event.
    expect(await pruneAuditOnce({ store, clock: { now: () => now }, retentionMs: 180 * DAY })).toBe(0);
    expect((await store.queryAudit({ type: 'audit.prune' })).length).toBe(1);
  });

  it('the watcher prunes right at start and reports', async () => {
    const now = 10 * DAY;
    await store.appendAudit(sampleAudit({ ts: 1 }));
    const pruned = await new Promise<number>((resolve, reject) => {
      const stop = watchRetention({
        store,
        clock: { now: () => now },
        retentionMs: DAY,
        onPruned: (n) => {
          stop();
          resolve(n);
        },
        onError: reject,
      });
    });
    expect(pruned).toBe(1);
  });
});
