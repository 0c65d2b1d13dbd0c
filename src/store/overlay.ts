/**
 * A store with some methods replaced and every other call passed to the store underneath: how the
 * write batcher (write-batch.ts) and the Redis publisher (shared/push.ts) sit in front of a store.
 * The login path calls through it on every login, so each method is bound once, not per call.
 */
import type { Store } from './types.js';

export function overlayStore(store: Store, overrides: Partial<Store>): Store {
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof Store];
      const cached = bound.get(prop);
      if (cached !== undefined) return cached;
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      bound.set(prop, fn);
      return fn;
    },
  });
}
