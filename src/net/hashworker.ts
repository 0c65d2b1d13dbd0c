/**
 * Worker-thread body for net/hashpool.ts: runs bcrypt (bcryptjs, pure JS, CPU-bound for ~50-100 ms
 * at cost 10) so that it never blocks the proxy's event loop. One request at a time; the pool queues.
 */
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

export type HashRequest =
  | { id: number; op: 'hash'; secret: string; cost: number }
  | { id: number; op: 'verify'; secret: string; hash: string };

export type HashResponse = { id: number; ok: true; value: string | boolean } | { id: number; ok: false; error: string };

/**
 * Shape of a bcrypt hash we are willing to verify. The cost cap matters: a corrupt or hostile row
 * with cost 31 would otherwise pin a worker for days.
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|1[0-6])\$[./A-Za-z0-9]{53}$/;

function handle(req: HashRequest): string | boolean {
  if (req.op === 'hash') return bcrypt.hashSync(req.secret, bcrypt.genSaltSync(req.cost));
  if (typeof req.hash !== 'string' || typeof req.secret !== 'string' || !BCRYPT_HASH.test(req.hash)) return false;
  try {
    return bcrypt.compareSync(req.secret, req.hash); // constant-time comparison of the full hash
  } catch {
    return false; // a malformed hash is a non-match, never an error
  }
}

if (!parentPort) throw new Error('hashworker must run as a worker thread');
const port = parentPort;
port.on('message', (req: HashRequest) => {
  let res: HashResponse;
  try {
    res = { id: req.id, ok: true, value: handle(req) };
  } catch (err) {
    res = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(res);
});
