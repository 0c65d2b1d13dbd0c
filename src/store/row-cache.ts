/**
 * The login path's two reads — `getAccount` (the enforcement override) and `getPasscode` (a
 * verified passcode's row) — served from memory: every warm login made both, and on PostgreSQL each
 * is a network round trip. Misses are cached too: "no account row" (no override) is the usual case.
 *
 * Correctness first — a revocation made anywhere must hold at the next login:
 *  - every mutating call through this overlay drops what it can affect (a method whose effect is
 *    unclear drops everything): this process always reads its own writes;
 *  - `epoch()` tells whether another process may have written since the cache was filled. The
 *    cache is used only while it returns the same non-null value: SQLite's `PRAGMA data_version`
 *    (changes when another connection commits — checked on every read, ~2 µs against ~10 µs for
 *    the two SELECTs), or the Redis link's epoch (null while the push channel is down: nothing is
 *    cached, since a push could be lost; a new value after an outage clears everything);
 *  - `invalidate()` for the push messages and the pollers (called before they act);
 *  - a hard ttl bounds staleness if all of that failed.
 * A read that overlaps a mutation does not fill the cache (it may have read the old row).
 */
import { LRUCache } from 'lru-cache';
import { overlayStore } from './overlay.js';
import type { AccountRow, PasscodeRow, Store } from './types.js';

export interface RowCacheOptions {
  /** Entries kept (accounts and passcodes together), least recently used evicted first. */
  max: number;
  /** Hard bound on how long a row is served without reading the store (> 0). */
  ttlMs: number;
  /** See the file comment: same non-null value → the cache may be used; null → bypass it. */
  epoch: () => number | null;
  /** The clock for the ttl (tests); default performance.now. */
  now?: () => number;
}

export interface RowCache {
  /** The store with getAccount/getPasscode cached and every mutation invalidating. */
  store: Store;
  /** Forgets every cached row (a push or a poll saw a change made elsewhere). */
  invalidate(): void;
  /** Reads served from memory and from the store since start (tests, bench). */
  readonly hits: number;
  readonly misses: number;
}

/** What a method does to the cached rows; exhaustive, so a new Store method must be classified. */
type Effect = 'none' | 'account' | 'passcode' | 'all';
const EFFECTS: Record<Exclude<keyof Store, 'getAccount' | 'getPasscode' | 'writeBatch' | 'changeVersion'>, Effect> = {
  listAccounts: 'none',
  setEnforcement: 'account',
  insertPasscode: 'account', // may create the account row; the new id was never read
  findPasscodeByTag: 'none',
  listPasscodes: 'none',
  revokePasscode: 'passcode',
  setPasscodeScopes: 'passcode',
  recordPasscodeUse: 'passcode',
  updatePasscode: 'passcode',
  unusedPasscodes: 'none',
  revokedSince: 'none',
  getTotp: 'none',
  setPendingTotp: 'account', // may create the account row
  activateTotp: 'account',
  useTotpStep: 'none',
  deleteTotp: 'account',
  replaceEmergencyCodes: 'none',
  listEmergencyCodes: 'none',
  useEmergencyCode: 'none',
  setEnrolCode: 'account',
  getEnrolCode: 'none',
  useEnrolCode: 'none',
  createPortalSession: 'none',
  getPortalSession: 'none',
  touchPortalSession: 'none',
  deletePortalSession: 'none',
  deletePortalSessionsOf: 'none',
  prunePortalSessions: 'none',
  recordObservation: 'none',
  listObservations: 'none',
  markRolloutNotice: 'none', // a row of rollout_notices, not of accounts
  appendAudit: 'none',
  queryAudit: 'none',
  pruneAudit: 'none',
  close: 'all',
};

/** A cached answer; `row` undefined is a cached miss (lru-cache cannot hold undefined itself). */
interface Entry {
  row: AccountRow | PasscodeRow | undefined;
}

/** Puts the row cache in front of `store`; see the file comment. */
export function cacheRows(store: Store, o: RowCacheOptions): RowCache {
  const now = o.now ?? (() => performance.now());
  const lru = new LRUCache<string, Entry>({
    max: o.max,
    ttl: o.ttlMs,
    // +1: lru-cache reads a start time of 0 as "no ttl" (a test clock may start at 0).
    perf: { now: () => now() + 1 },
    ttlResolution: 0,
  });
  let epoch: number | null = null;
  /** Bumped by every mutation and invalidation: a read that spans one does not fill the cache. */
  let generation = 0;
  let hits = 0;
  let misses = 0;

  const clear = () => {
    generation++;
    lru.clear();
  };
  const drop = (key: string) => {
    generation++;
    lru.delete(key);
  };
  /** True when the cache may answer now; a change of epoch forgets everything first. */
  const usable = (): boolean => {
    const e = o.epoch();
    if (e !== epoch) {
      epoch = e;
      clear();
    }
    return e !== null;
  };

  const cached = async <R extends AccountRow | PasscodeRow>(key: string, read: () => Promise<R | undefined>): Promise<R | undefined> => {
    if (!usable()) {
      misses++;
      return read();
    }
    const hit = lru.get(key);
    if (hit) {
      hits++;
      return hit.row as R | undefined;
    }
    misses++;
    const gen = generation;
    const row = await read();
    if (gen === generation) lru.set(key, { row });
    return row;
  };

  /** Runs a mutation, dropping `keys` (null: everything) before and after it. */
  const mutate = async <T>(keys: string[] | null, run: () => Promise<T>): Promise<T> => {
    const forget = () => (keys === null ? clear() : keys.forEach(drop));
    forget();
    try {
      return await run();
    } finally {
      forget();
    }
  };

  const overrides: Partial<Store> = {
    getAccount: (username) => cached(`a:${username}`, () => store.getAccount(username)),
    getPasscode: (id) => cached(`p:${id}`, () => store.getPasscode(id)),
    // The batcher's commit of passcodes' last use: those rows are read again, so authenticate's
    // "used within the minute from here" check sees what the store holds (no write per login).
    writeBatch: (batch) =>
      batch.passcodeUses.length === 0
        ? store.writeBatch(batch)
        : mutate(
            batch.passcodeUses.map((u) => `p:${u.id}`),
            () => store.writeBatch(batch),
          ),
  };
  for (const [name, effect] of Object.entries(EFFECTS) as Array<[keyof typeof EFFECTS, Effect]>) {
    if (effect === 'none') continue;
    const method = (store[name] as (...a: unknown[]) => Promise<unknown>).bind(store);
    (overrides as Record<string, unknown>)[name] = (...args: unknown[]) => mutate(keysOf(effect, name, args), () => method(...args));
  }
  return {
    store: overlayStore(store, overrides),
    invalidate: clear,
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}

/** The cache keys a mutation can affect, from its arguments (null: all). */
function keysOf(effect: Effect, name: string, args: unknown[]): string[] | null {
  // (username, …), or a row with its username (insertPasscode, setEnrolCode).
  if (effect === 'account') return [`a:${typeof args[0] === 'string' ? args[0] : (args[0] as { username: string }).username}`];
  // recordPasscodeUse(id, …); the others take (username, id, …).
  if (effect === 'passcode') return [`p:${(name === 'recordPasscodeUse' ? args[0] : args[1]) as string}`];
  return null;
}

/** Rows kept at most: the accounts and passcodes of the users logging in now, ~1 KB each. */
const MAX_ROWS = 50_000;

/**
 * The row cache `serve` puts in front of `store`, or null where nothing would tell it in time of a
 * change made by another process: SQLite answers through `changeVersion` (every commit of another
 * connection, whether or not Redis is configured); PostgreSQL only through the Redis push channel
 * (`link`); PostgreSQL without Redis gets no cache, nor does `ttlMs` 0.
 */
export function rowCacheFor(
  opened: Store,
  cached: Store,
  o: { ttlMs: number; link: { readonly epoch: number | null } | null; now: () => number },
): RowCache | null {
  if (o.ttlMs <= 0) return null;
  const version = opened.changeVersion?.bind(opened);
  const { link } = o;
  const epoch = version ?? (link ? () => link.epoch : null);
  if (!epoch) return null;
  return cacheRows(cached, { max: MAX_ROWS, ttlMs: o.ttlMs, epoch, now: o.now });
}
