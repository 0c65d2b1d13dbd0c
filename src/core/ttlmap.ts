/**
 * Bounded maps with a time to live, on lru-cache, driven by the injected clock: the guard's
 * tables, the portal's delay policies and the verified-credential cache all use this one shape
 * instead of each writing its own "evict the oldest" loop.
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from './types.js';

export { LRUCache };

/**
 * A map of at most `max` entries (least recently used evicted first), each forgotten `ttlMs`
 * after it was last set (0: kept until evicted; `set(k, v, { ttl })` overrides per entry).
 */
export function ttlMap<V extends object>(clock: Clock, max: number, ttlMs = 0): LRUCache<string, V> {
  return new LRUCache<string, V>({
    max,
    ttl: ttlMs,
    // lru-cache reads a start time of 0 as "no TTL", and a test clock may start at 0: shifting
    // every reading by 1 ms changes no age. ttlResolution 0: no cached clock reading (and no timer).
    perf: { now: () => clock.now() + 1 },
    ttlResolution: 0,
  });
}

/** Deletes the least recently used entry that `evictable` allows; false if there is none. */
export function evictOldest<V extends object>(map: LRUCache<string, V>, evictable: (v: V) => boolean): boolean {
  for (const entry of map.rentries()) {
    const [k, v] = entry as [string, V];
    if (evictable(v)) {
      map.delete(k);
      return true;
    }
  }
  return false;
}
