/**
 * bcrypt off the event loop, on a few worker threads of lower CPU priority.
 *
 * @node-rs/bcrypt (native, Rust) computes each hash synchronously inside a worker thread. The
 * threads are ours rather than libuv's pool for one reason: priority. On Linux a thread's nice
 * value is its own, so each worker lowers its own (`auth.hash_nice`, default 10) and the kernel
 * then runs the event loop that splices everyone's IMAP/SMTP traffic first whenever both want a
 * core — a cold-login storm waits, the live sessions do not (measured in `npm run bench`'s
 * head-of-line phase). libuv's pool threads also serve file and DNS work and cannot be re-niced.
 *
 * At most `size` hashes run at once, the rest wait in arrival order. Hashes are standard bcrypt
 * ($2b$); $2a$/$2b$/$2y$ hashes from bcryptjs verify as before. Secrets cross to the worker by
 * message only (structured clone) and are never logged or put in an error.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Hasher } from '../core/types.js';

export interface HasherOptions {
  /** Hashes computed at once (= worker threads). Default: min(2, available cores). */
  size?: number;
  /** bcrypt cost for new hashes, 4..16. Default 10. */
  cost?: number;
  /** Nice value of the worker threads, 0 (same as the event loop) .. 19 (only idle CPU). Default 10. */
  nice?: number;
}

/**
 * The hash threads of one process when `auth.hash_workers` is unset: one core is left to the event
 * loop that splices everyone's traffic, the rest shared out between `serve --workers` processes.
 */
export function defaultHashThreads(workers = 1, cores = os.availableParallelism()): number {
  return Math.max(1, Math.floor((cores - 1) / workers));
}

const MIN_COST = 4;
const MAX_COST = 16;

/**
 * Shape of a bcrypt hash we are willing to verify. The cost cap matters: a corrupt or hostile row
 * with cost 31 would otherwise pin a thread for days.
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-6])\$[./A-Za-z0-9]{53}$/;

// The worker is plain CommonJS evaluated from this string, so it runs the same under tsx, vitest
// and the built dist/ without a second file to resolve; the binding's path comes from here.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const os = require('node:os');
let niced = false;
try { os.setPriority(0, workerData.nice); niced = true; } catch {}
const bcrypt = require(workerData.bcryptPath);
parentPort.postMessage({ ready: true, niced });
parentPort.on('message', (m) => {
  try {
    const out = m.op === 'hash' ? bcrypt.hashSync(m.secret, m.cost) : bcrypt.verifySync(m.secret, m.hash);
    parentPort.postMessage({ out });
  } catch {
    parentPort.postMessage({ failed: true });
  }
});
`;

/** How many hashes run and wait right now (the operators' `mailgate_hash_jobs` gauge). */
export interface HashLoad {
  readonly busy: number;
  readonly waiting: number;
}

interface Job {
  op: 'hash' | 'verify';
  secret: string;
  hash?: string;
  resolve: (v: string | boolean) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | null;
}

/** Creates the Hasher: bcrypt on `size` niced worker threads (started on first use), in arrival order. */
export function createHasher(opts: HasherOptions = {}): Hasher & HashLoad {
  const size = opts.size ?? Math.max(1, Math.min(2, os.availableParallelism()));
  const cost = opts.cost ?? 10;
  const nice = opts.nice ?? 10;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash concurrency must be a positive integer: ${size}`);
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new RangeError(`bcrypt cost must be an integer in ${MIN_COST}..${MAX_COST}: ${cost}`);
  }
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) throw new RangeError(`hash nice must be an integer in 0..19: ${nice}`);
  const bcryptPath = createRequire(import.meta.url).resolve('@node-rs/bcrypt');
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let closed = false;

  const spawn = (): Slot => {
    const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true, workerData: { bcryptPath, nice } }), job: null };
    slot.worker.unref(); // an idle worker never keeps the process alive; a busy one is ref'd below
    slot.worker.on('message', (m: { ready?: boolean; out?: string | boolean; failed?: boolean }) => {
      if (m.ready) return;
      const job = slot.job;
      slot.job = null;
      slot.worker.unref();
      if (job && m.failed) job.op === 'verify' ? job.resolve(false) : job.reject(new Error('bcrypt hash failed'));
      else job?.resolve(m.out as string | boolean);
      dispatch();
    });
    // A worker that dies (out of memory, a crash in the binding) takes only its own job with it.
    const lost = () => {
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      slot.job?.reject(new Error('hash worker stopped'));
      slot.job = null;
      if (!closed) dispatch();
    };
    slot.worker.on('error', lost);
    slot.worker.on('exit', lost);
    slots.push(slot);
    return slot;
  };

  function dispatch(): void {
    while (!closed && queue.length > 0) {
      const slot = slots.find((s) => s.job === null) ?? (slots.length < size ? spawn() : undefined);
      if (!slot) return;
      const job = queue.shift() as Job;
      slot.job = job;
      slot.worker.ref();
      slot.worker.postMessage({ op: job.op, secret: job.secret, hash: job.hash, cost });
    }
  }

  function run<T extends string | boolean>(op: Job['op'], secret: string, hash?: string): Promise<T> {
    if (closed) return Promise.reject(new Error('hasher is closed'));
    return new Promise<T>((resolve, reject) => {
      queue.push({ op, secret, hash, resolve: resolve as Job['resolve'], reject });
      dispatch();
    });
  }

  return {
    hash(secret: string): Promise<string> {
      if (typeof secret !== 'string') return Promise.reject(new TypeError('secret must be a string'));
      return run<string>('hash', secret);
    },
    async verify(secret: string, hash: string): Promise<boolean> {
      if (closed) throw new Error('hasher is closed');
      // The binding compares the full hash in constant time; a malformed one is a non-match, never an error.
      if (typeof secret !== 'string' || typeof hash !== 'string' || !BCRYPT_HASH.test(hash)) return false;
      return run<boolean>('verify', secret, hash);
    },
    get busy(): number {
      return slots.filter((s) => s.job !== null).length;
    },
    get waiting(): number {
      return queue.length;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const dropped = [...queue.splice(0), ...slots.flatMap((s) => (s.job ? [s.job] : []))];
      for (const s of slots) s.job = null;
      for (const job of dropped) job.reject(new Error('hasher is closed'));
      await Promise.all(slots.splice(0).map((s) => s.worker.terminate()));
    },
  };
}
