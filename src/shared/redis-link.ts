/**
 * The connection to Redis shared by several mailgate instances: one client for commands, one for
 * pub/sub (a subscribed connection can do nothing else). Commands never wait for a connection
 * (no offline queue, short timeouts): while Redis is away every caller falls back to its local
 * state at once instead of holding a login. The outage is said once (error level) when it starts
 * and once when it ends, never per command.
 */
import { Redis } from 'ioredis';

export interface RedisLinkHooks {
  /** Redis became unreachable (called once per outage, and at start if it is not there). */
  onDown(reason: string): void;
  /** Redis is back after an outage. */
  onUp(): void;
  /** A message on a subscribed channel. */
  onMessage?(channel: string, message: string): void;
}

export interface RedisLink {
  readonly client: Redis;
  /** True while the command connection is ready. */
  readonly up: boolean;
  /**
   * A command timed out: Redis hangs (stopped, swapping, a long script). Treated as an outage — the
   * connection is dropped and re-made — so that the next logins fall back at once instead of each
   * waiting out the timeout.
   */
  suspect(reason: string): void;
  /**
   * A number that changes whenever either connection is lost or comes back; null while one is
   * down (a push may then be lost). The row cache (store/row-cache.ts) is used only while it holds.
   */
  readonly epoch: number | null;
  /** Publishes without waiting for a connection; false when it could not be sent. */
  publish(channel: string, message: string): Promise<boolean>;
  close(): Promise<void>;
}

const OPTIONS = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1_000,
  connectTimeout: 1_000,
  // Reconnect quickly at first, then once a second: recovery is noticed within about a second.
  retryStrategy: (times: number) => Math.min(times * 100, 1_000),
  lazyConnect: true,
  // ioredis waits this long (a timer that holds the process) for a closed socket to end: a CLI
  // command would exit 2 s late.
  disconnectTimeout: 100,
};

/** Connects (waiting up to `startMs` for a first answer) and subscribes to `channels`. */
export async function connectRedis(url: string, channels: string[], hooks: RedisLinkHooks, startMs = 2_000): Promise<RedisLink> {
  const client = new Redis(url, OPTIONS);
  const sub = new Redis(url, { ...OPTIONS, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
  let up = false;
  let down = false; // an outage was reported and not yet its end
  let closing = false;
  let listening = channels.length === 0; // nothing to listen to: only the command connection counts
  let transitions = 0;
  const markDown = (reason: string) => {
    up = false;
    if (down || closing) return;
    down = true;
    hooks.onDown(reason);
  };
  let lastError = 'connection closed';
  client.on('error', (e: Error) => {
    lastError = e.message;
  });
  sub.on('error', () => {}); // the command connection reports the outage
  if (channels.length) {
    // ioredis re-sends SUBSCRIBE before 'ready' after a reconnect; messages sent while the
    // subscriber was away are lost, hence the new epoch.
    sub.on('ready', () => {
      listening = true;
      transitions++;
    });
    sub.on('close', () => {
      listening = false;
      transitions++;
    });
  }
  client.on('ready', () => {
    transitions++;
    up = true;
    if (down) {
      down = false;
      hooks.onUp();
    }
  });
  client.on('close', () => {
    transitions++;
    markDown(lastError);
  });
  if (hooks.onMessage) sub.on('message', (ch: string, msg: string) => hooks.onMessage?.(ch, msg));
  const started = client.connect().catch((e: Error) => {
    lastError = e.message;
  });
  void sub.connect().catch(() => {});
  if (channels.length) void sub.subscribe(...channels).catch(() => {});
  await Promise.race([started, new Promise((r) => setTimeout(r, startMs).unref())]);
  if (!up) markDown(lastError);
  return {
    client,
    get up() {
      return up;
    },
    get epoch() {
      return up && listening ? transitions : null;
    },
    suspect(reason) {
      if (!up) return;
      lastError = reason;
      client.disconnect(true);
    },
    async publish(channel, message) {
      if (!up) return false;
      try {
        await client.publish(channel, message);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      closing = true;
      client.disconnect();
      sub.disconnect();
    },
  };
}
