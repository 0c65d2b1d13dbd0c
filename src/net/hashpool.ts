/**
 * bcrypt off the event loop. bcryptjs is pure JavaScript: one cost-10 hash blocks its thread for
 * ~50-100 ms, which on the main thread would stall every other user's IMAP/SMTP session. Jobs go
 * through a FIFO queue to a fixed set of worker threads, one job per worker at a time.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Hasher } from '../core/types.js';
import type { HashRequest, HashResponse } from './hashworker.js';

export interface HashPoolOptions {
  /** Worker threads. Default: min(2, available cores). */
  size?: number;
  /** bcrypt cost for new hashes, 4..16. Default 10. */
  cost?: number;
}

/** Must match the cost cap in hashworker.ts (hashes above it are treated as malformed). */
const MIN_COST = 4;
const MAX_COST = 16;

/** A request before the pool numbers it (Omit distributed over the union). */
type JobRequest = HashRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
interface Job {
  req: HashRequest;
  resolve: (v: string | boolean) => void;
  reject: (e: Error) => void;
}
interface Slot {
  worker: Worker | null;
  job: Job | null;
}

/**
 * Starts the worker script next to this file: compiled `.js` in dist/, or the `.ts` source under
 * vitest/tsx. For the latter, `execArgv: ['--import', 'tsx']` does not work on Node 20 (the worker's
 * entry is resolved before the loader hooks apply), so a tiny bootstrap loads it through tsx's API.
 */
function startWorker(): Worker {
  const self = new URL(import.meta.url);
  if (!self.pathname.endsWith('.ts')) return new Worker(new URL('./hashworker.js', self));
  const target = new URL('./hashworker.ts', self).href;
  const api = tsxEsmApiUrl(self);
  const boot = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(target)}, ${JSON.stringify(target)}))`;
  return new Worker(boot, { eval: true });
}

/** URL of tsx's ESM API entry, resolved from this file (require.resolve would pick the CJS build). */
function tsxEsmApiUrl(from: URL): string {
  const pkgPath = createRequire(from).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as {
    exports?: Record<string, { import?: { default?: string } } | string>;
  };
  const entry = pkg.exports?.['./esm/api'];
  const rel = typeof entry === 'object' ? entry.import?.default : undefined;
  if (!rel) throw new Error('cannot locate tsx/esm/api to run the hash worker from TypeScript source');
  return new URL(rel, pathToFileURL(pkgPath)).href;
}

/** Creates a Hasher whose bcrypt work runs on a pool of worker threads. */
export function createHashPool(opts: HashPoolOptions = {}): Hasher {
  const size = opts.size ?? Math.max(1, Math.min(2, os.availableParallelism()));
  const cost = opts.cost ?? 10;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`hash pool size must be a positive integer: ${size}`);
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new RangeError(`bcrypt cost must be an integer in ${MIN_COST}..${MAX_COST}: ${cost}`);
  }

  const queue: Job[] = [];
  const slots: Slot[] = Array.from({ length: size }, () => ({ worker: null, job: null }));
  let nextId = 1;
  let closed = false;

  function spawn(slot: Slot): Worker {
    const w = startWorker();
    slot.worker = w;
    w.on('message', (res: HashResponse) => {
      const job = slot.job;
      if (slot.worker !== w || !job || job.req.id !== res.id) return;
      slot.job = null;
      w.unref();
      if (res.ok) job.resolve(res.value);
      else job.reject(new Error(`hash worker: ${res.error}`));
      pump();
    });
    // A dead worker fails only its own in-flight job; the slot gets a fresh worker when next needed
    // (lazily, so a worker that cannot even start does not respawn in a tight loop).
    const fail = (err: Error): void => {
      if (slot.worker !== w) return;
      slot.worker = null;
      const job = slot.job;
      slot.job = null;
      void w.terminate();
      job?.reject(err);
      pump();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`hash worker exited unexpectedly (code ${code})`)));
    // Idle workers must not keep the process alive; pump() refs them while a job is in flight. This
    // must come after on('message'): adding a 'message' listener re-refs the worker's port.
    w.unref();
    return w;
  }

  function pump(): void {
    if (closed) return;
    for (const slot of slots) {
      if (queue.length === 0) return;
      if (slot.job) continue;
      const job = queue.shift()!;
      let w: Worker;
      try {
        w = slot.worker ?? spawn(slot);
      } catch (err) {
        // Cannot even construct a Worker (e.g. tsx missing): nothing queued could run, so fail it all.
        const e = err instanceof Error ? err : new Error(String(err));
        for (const j of [job, ...queue.splice(0)]) j.reject(e);
        return;
      }
      slot.job = job;
      w.ref();
      w.postMessage(job.req);
    }
  }

  function submit(req: JobRequest): Promise<string | boolean> {
    if (closed) return Promise.reject(new Error('hash pool is closed'));
    return new Promise((resolve, reject) => {
      queue.push({ req: { ...req, id: nextId++ } as HashRequest, resolve, reject });
      pump();
    });
  }

  // Warm the workers now so the first logins don't pay thread + module start-up.
  for (const slot of slots) spawn(slot);

  return {
    async hash(secret: string): Promise<string> {
      if (typeof secret !== 'string') throw new TypeError('secret must be a string');
      return (await submit({ op: 'hash', secret, cost })) as string;
    },
    async verify(secret: string, hash: string): Promise<boolean> {
      if (closed) throw new Error('hash pool is closed');
      if (typeof secret !== 'string' || typeof hash !== 'string') return false;
      return (await submit({ op: 'verify', secret, hash })) === true;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      const err = new Error('hash pool is closed');
      for (const job of queue.splice(0)) job.reject(err);
      const workers: Worker[] = [];
      for (const slot of slots) {
        slot.job?.reject(err);
        if (slot.worker) workers.push(slot.worker);
        slot.job = null;
        slot.worker = null; // detaches the exit handler before terminate() fires it
      }
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
