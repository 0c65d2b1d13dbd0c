/**
 * Failure throttling: a counter of recent failures per key (e.g. "ip|account") that, past a few
 * free failures, makes the caller wait an exponentially growing time before the next try. It
 * refuses early instead of sleeping, so a flood of guesses holds no connections or timers open.
 *
 * In memory and per process on purpose: it slows online guessing, it is not an audit record
 * (that is the audit log). Callers choose the keys; the core knows no protocol.
 */
import type { Clock } from './types.js';

export interface ThrottleOptions {
  /** Failures allowed before any wait is imposed. */
  freeFailures: number;
  /** Wait after the first failure past the free ones; doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key with no failure for this long starts over. */
  forgetAfterMs: number;
  /** Memory bound: beyond it the least recently failed keys are forgotten. */
  maxKeys?: number;
}

interface Entry { failures: number; last: number; until: number }

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly clock: Clock, private readonly opts: ThrottleOptions) {}

  /** Milliseconds the caller must still wait before trying `key` again; 0 means go ahead. */
  waitMs(key: string): number {
    const e = this.live(key);
    return e ? Math.max(0, e.until - this.clock.now()) : 0;
  }

  /** Records a failure; returns the wait now imposed on `key`. */
  fail(key: string): number {
    const now = this.clock.now();
    const e = this.live(key) ?? { failures: 0, last: now, until: 0 };
    e.failures += 1;
    e.last = now;
    const over = e.failures - this.opts.freeFailures;
    const wait = over <= 0 ? 0 : Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.min(over - 1, 30));
    e.until = now + wait;
    this.entries.delete(key); // re-insert: Map order is then "least recently failed first"
    this.entries.set(key, e);
    this.bound();
    return wait;
  }

  /** Forgets `key` (after a success: the right user should not inherit a stranger's failures). */
  reset(key: string): void {
    this.entries.delete(key);
  }

  get size(): number { return this.entries.size; }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.clock.now() - e.last > this.opts.forgetAfterMs && this.clock.now() >= e.until) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private bound(): void {
    const max = this.opts.maxKeys ?? 100_000;
    for (const k of this.entries.keys()) {
      if (this.entries.size <= max) break;
      this.entries.delete(k);
    }
  }
}
