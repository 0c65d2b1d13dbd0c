/** Route handlers that run only with their in-flight slots reserved (portal/inflight.ts says why). */
import type { Slot } from '../inflight.js';
import type { Ctx, Portal, Route } from '../types.js';

/** A route handler that runs only with its slots reserved; without them `busy` answers at once. */
export function withSlots(slots: (p: Portal, c: Ctx) => Slot[], busy: Route['run'], run: Route['run']): Route['run'] {
  return async (p: Portal, c: Ctx) => {
    // Synchronous, like the guard's checks at the start of `run`: no other request runs in between.
    const release = p.inFlight.acquire(slots(p, c));
    if (!release) return busy(p, c);
    try {
      await run(p, c);
    } finally {
      release();
    }
  };
}
