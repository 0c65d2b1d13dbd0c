/**
 * Push instead of poll between instances. Every admin action that must reach the other instances
 * (revoking a passcode, enforcing or releasing an account, changing scopes, lifting a block) is
 * written to the audit log, which the pollers (core/revocations.ts, livepolicy.ts, guard-watch.ts)
 * read every 500 ms. With Redis configured, the store's appendAudit also publishes the event's
 * type on one channel, and each instance wakes the matching poller at once. The message carries
 * no account, passcode or secret: the poller reads what changed from the store, as always, so a
 * lost or forged message can only cause an early poll. If Redis is down the pollers still run.
 */
import type { Store } from '../store/types.js';
import { overlayStore } from '../store/overlay.js';

/** The pub/sub channel under the configured prefix. */
export const eventsChannel = (prefix: string): string => `${prefix}events`;

/** Which poller an audit event type wakes. */
export const PUSHED: Readonly<Record<string, 'revocations' | 'livepolicy' | 'unblocks'>> = {
  'passcode.revoke': 'revocations',
  'account.enforce': 'livepolicy',
  'account.release': 'livepolicy',
  'passcode.scope': 'livepolicy',
  'passcode.allow': 'livepolicy',
  'admin.unblock': 'unblocks',
};

/** The same store; after an audit event of a pushed type is written, `publish(type)` is called. */
export function publishingStore(store: Store, publish: (type: string) => void): Store {
  return overlayStore(store, {
    async appendAudit(e) {
      const id = await store.appendAudit(e);
      if (Object.hasOwn(PUSHED, e.type)) publish(e.type);
      return id;
    },
  });
}

/** Wakes registered pollers by name; what a watcher's `wake` dependency subscribes to. */
export class Waker {
  private readonly listeners = new Map<string, Array<() => void>>();
  private readonly first: Array<() => void> = [];

  /** Runs `listener` on every message, before any poller wakes (the row cache forgets its rows). */
  beforeWake(listener: () => void): void {
    this.first.push(listener);
  }

  /** The `wake` dependency for one poller. */
  for(name: 'revocations' | 'livepolicy' | 'unblocks'): (listener: () => void) => void {
    return (listener) => this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
  }

  /** A message on the events channel: wakes the poller its type names (unknown types are ignored). */
  onMessage(type: string): void {
    for (const l of this.first) l();
    const name = Object.hasOwn(PUSHED, type) ? PUSHED[type] : undefined;
    if (name) for (const l of this.listeners.get(name) ?? []) l();
  }
}
