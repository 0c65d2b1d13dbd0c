/**
 * bcrypt off the event loop, with @node-rs/bcrypt: a native (Rust) binding whose async calls run
 * on libuv's thread pool, so a cost-10 hash (~50 ms of CPU) never stalls the loop that splices
 * everyone's IMAP/SMTP traffic. At most `size` run at once: libuv's pool (4 threads) also serves
 * file and DNS work, and one core stays for the event loop. Hashes are standard bcrypt ($2b$),
 * and $2a$/$2b$/$2y$ hashes from bcryptjs verify as before.
 */
import bcrypt from '@node-rs/bcrypt';
import os from 'node:os';
import type { Hasher } from '../core/types.js';

export interface HasherOptions {
  /** Hashes computed at once. Default: min(2, available cores). */
  size?: number;
  /** bcrypt cost for new hashes, 4..16. Default 10. */
  cost?: number;
}

const MIN_COST = 4;
const MAX_COST = 16;

/**
 * Shape of a bcrypt hash we are willing to verify. The cost cap matters: a corrupt or hostile row
 * with cost 31 would otherwise pin a thread for days.
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-6])\$[./A-Za-z0-9]{53}$/;

/** Creates the Hasher: bcrypt on libuv's pool, at most `size` at a time, in arrival order. */
export function createHasher(opts: HasherOptions = {}): Hasher {
  const size = opts.size ?? Math.max(1, Math.min(2, os.availableParallelism()));
  const cost = opts.cost ?? 10;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash concurrency must be a positive integer: ${size}`);
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new RangeError(`bcrypt cost must be an integer in ${MIN_COST}..${MAX_COST}: ${cost}`);
  }
  const queue: Array<() => void> = [];
  let running = 0;
  let closed = false;
  const abort = new AbortController();

  /** Runs `job` once fewer than `size` are running (FIFO); rejects once closed. */
  async function limited<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (closed) throw new Error('hasher is closed');
    if (running >= size) await new Promise<void>((resolve) => queue.push(resolve));
    if (closed) throw new Error('hasher is closed');
    running++;
    try {
      const out = await job(abort.signal);
      if (closed) throw new Error('hasher is closed'); // an answer after close() is not delivered
      return out;
    } finally {
      running--;
      queue.shift()?.();
    }
  }

  return {
    hash(secret: string): Promise<string> {
      if (typeof secret !== 'string') return Promise.reject(new TypeError('secret must be a string'));
      return limited((signal) => bcrypt.hash(secret, cost, null, signal));
    },
    async verify(secret: string, hash: string): Promise<boolean> {
      if (closed) throw new Error('hasher is closed');
      if (typeof secret !== 'string' || typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) return false;
      // The binding compares the full hash in constant time; a malformed one is a non-match, never an error.
      return limited((signal) =>
        bcrypt.verify(secret, hash, signal).catch((e: unknown) => {
          if (closed) throw e;
          return false;
        }),
      );
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      abort.abort(); // jobs still queued on libuv's pool are dropped
      for (const wake of queue.splice(0)) wake();
    },
  };
}
