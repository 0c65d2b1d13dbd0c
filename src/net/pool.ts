/**
 * A few upstream connections made ready before they are needed (connected, greeted, TLS done),
 * so a login skips the connect, greeting and STARTTLS round trips. Each is used by one client
 * only, once; the client's own ID/XCLIENT and login are sent on it then. Connections older than
 * `maxAgeMs` are closed unused, well before the upstream's pre-login timeout (Dovecot closes a
 * client without an auth attempt after about a minute). The pool refills only while logins
 * come: an idle gate does not keep reconnecting (every discarded connection is a line in the
 * upstream's log).
 */

export interface PoolOptions {
  /** How many ready connections to keep; 0 turns the pool off. */
  size: number;
  maxAgeMs: number;
}

export interface PoolHooks<T> {
  /** Connects and gets to "ready to log in". */
  open(): Promise<T>;
  /** Still usable: not closed by the upstream, nothing unread from it. */
  usable(conn: T): boolean;
  close(conn: T): void;
  onError?(e: Error): void;
}

/** After a failed open, the pool waits this long before trying again (a down upstream is not hammered). */
const RETRY_AFTER_MS = 1000;

export class WarmPool<T> {
  /** Takes served from the pool and with a new connection (tests, the bench). */
  readonly stats = { pooled: 0, fresh: 0 };
  private readonly idle: Array<{ conn: T; at: number }> = [];
  private opening = 0;
  private lastTake = Number.NEGATIVE_INFINITY;
  private retryAt = 0;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout | null = null;

  constructor(
    private readonly hooks: PoolHooks<T>,
    private readonly o: PoolOptions,
    private readonly now: () => number = Date.now,
  ) {
    if (o.size > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(100, o.maxAgeMs / 4));
      this.sweeper.unref();
    }
  }

  /** A ready connection: a pooled one if one is young and usable, else a new one. */
  async take(): Promise<{ conn: T; pooled: boolean }> {
    this.lastTake = this.now();
    for (let e = this.idle.shift(); e; e = this.idle.shift()) {
      if (this.now() - e.at < this.o.maxAgeMs && this.hooks.usable(e.conn)) {
        this.fill();
        this.stats.pooled++;
        return { conn: e.conn, pooled: true };
      }
      this.hooks.close(e.conn);
    }
    this.fill();
    this.stats.fresh++;
    return { conn: await this.hooks.open(), pooled: false };
  }

  get size(): number {
    return this.idle.length;
  }

  /** Closes every pooled connection; take() still works, without a pool. */
  close(): void {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const e of this.idle.splice(0)) this.hooks.close(e.conn);
  }

  private sweep(): void {
    const t = this.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const e = this.idle[i]!;
      if (t - e.at >= this.o.maxAgeMs || !this.hooks.usable(e.conn)) {
        this.idle.splice(i, 1);
        this.hooks.close(e.conn);
      }
    }
    this.fill();
  }

  private fill(): void {
    const t = this.now();
    // Only while logins come (one within max_age), and not right after a failed open.
    if (this.closed || t - this.lastTake > this.o.maxAgeMs || t < this.retryAt) return;
    while (this.idle.length + this.opening < this.o.size) {
      this.opening++;
      this.hooks
        .open()
        .then((conn) => {
          if (this.closed) this.hooks.close(conn);
          else this.idle.push({ conn, at: this.now() });
        })
        .catch((e: Error) => {
          this.retryAt = this.now() + RETRY_AFTER_MS;
          this.hooks.onError?.(e);
        })
        .finally(() => {
          this.opening--;
        });
    }
  }
}
