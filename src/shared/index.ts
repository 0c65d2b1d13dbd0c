/**
 * What several mailgate instances share through Redis (`redis:` in the config): the brute-force
 * guard's state (redis-guard.ts) and pushes of admin actions (push.ts). Without `redis` nothing
 * here runs and each instance keeps today's in-memory guard and polls the store.
 */
import { AuthGuard, type GuardEvent, type GuardOptions } from '../core/guard.js';
import { type Guard, localGuard } from '../core/guard-port.js';
import type { Clock } from '../core/types.js';
import type { Logger } from '../runtime/logger.js';
import type { Store } from '../store/types.js';
import { eventsChannel, publishingStore, Waker } from './push.js';
import { dropSharedBlock, listSharedBlocks, sharedGuard, type SharedGuard } from './redis-guard.js';
import { connectRedis, type RedisLink } from './redis-link.js';

export interface Shared {
  link: RedisLink;
  /** Wakes this instance's pollers when another instance (or the CLI) pushes. */
  waker: Waker;
  prefix: string;
  /** The store, publishing the pushed audit events. */
  wrap(store: Store): Store;
  close(): Promise<void>;
}

/** Where the guard's keys live under the configured prefix. */
export const guardPrefix = (prefix: string): string => `${prefix}guard:`;

/** The blocks Redis holds now, or null when it cannot be reached (the CLI's `unblock` listing). */
export async function sharedBlocks(
  shared: Shared,
  now: number,
): Promise<Array<{ source: string; until: number; failures: number }> | null> {
  if (!shared.link.up) return null;
  return listSharedBlocks(shared.link, guardPrefix(shared.prefix), now).catch(() => null);
}

/** Lifts a block in Redis directly (also when no instance runs); false when Redis cannot be reached. */
export async function liftSharedBlock(shared: Shared, source: string): Promise<boolean> {
  if (!shared.link.up) return false;
  return dropSharedBlock(shared.link, guardPrefix(shared.prefix), source).then(
    () => true,
    () => false,
  );
}

/**
 * A serving process' outage hooks: one error line when Redis goes away (the instances stop sharing
 * counts until it is back), one line when it is back, after the local blocks were written back.
 */
export function outageHooks(log: Logger, deps: { up(up: boolean): void; resync(): Promise<number> }): SharedHooks & { subscribe: boolean } {
  return {
    subscribe: true,
    onDown: (reason) => {
      deps.up(false);
      log.error(
        { err: reason },
        "Redis unreachable: brute-force counters and blocks fall back to this instance's own (blocks seen here still hold); revocations and unblocks reach other instances by polling",
      );
    },
    onUp: () => {
      deps.up(true);
      deps.resync().then(
        (n) => log.info({ resynced: n }, 'Redis reachable again: guard state shared again; blocks made during the outage written back'),
        (e: Error) => log.error({ err: e.message }, 'Redis reachable again, but re-syncing blocks failed'),
      );
    },
  };
}

export interface SharedHooks {
  onDown(reason: string): void;
  onUp(): void;
}

/** Connects to the configured Redis; `subscribe` for a serving process (the CLI only publishes). */
export async function connectShared(cfg: { url: string; prefix: string }, subscribe: boolean, hooks: SharedHooks): Promise<Shared> {
  const waker = new Waker();
  const channel = eventsChannel(cfg.prefix);
  const link = await connectRedis(cfg.url, subscribe ? [channel] : [], {
    onDown: (r) => hooks.onDown(r),
    onUp: () => hooks.onUp(),
    onMessage: (ch, msg) => {
      if (ch === channel) waker.onMessage(msg);
    },
  });
  return {
    link,
    waker,
    prefix: cfg.prefix,
    wrap: (store) => publishingStore(store, (type) => void link.publish(channel, type)),
    close: () => link.close(),
  };
}

/**
 * The guard the login paths use: in memory, or shared through Redis with the in-memory one as
 * write-through mirror and fallback. While Redis is up only the shared state reports events (one
 * audit line per block, whichever instance decided it); while it is down the local guard does.
 */
export function createGuard(deps: {
  clock: Clock;
  opts: GuardOptions;
  onEvent: (e: GuardEvent) => void;
  shared: Shared | null;
  onFallback?: (step: string) => void;
}): Guard & { resync?: SharedGuard['resync'] } {
  const { shared, onEvent } = deps;
  if (!shared) return localGuard(new AuthGuard(deps.clock, deps.opts, onEvent));
  const local = new AuthGuard(deps.clock, deps.opts, (e) => {
    if (!shared.link.up || e.type === 'abuse.table-full') onEvent(e);
  });
  return sharedGuard({
    link: shared.link,
    local,
    opts: deps.opts,
    clock: deps.clock,
    prefix: guardPrefix(shared.prefix),
    onEvent,
    onFallback: deps.onFallback ?? (() => {}),
  });
}
