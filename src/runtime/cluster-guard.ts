/**
 * One brute-force count across cluster workers without Redis: the supervisor (cluster primary)
 * holds the one in-memory AuthGuard and answers each worker's Guard calls over the cluster IPC
 * channel, so an attacker alternating connections between workers meets one count.
 *
 * When the primary does not answer in time, this takes the Redis guard's stance
 * (src/shared/redis-guard.ts): every step is also written through to a local AuthGuard in the
 * worker, blocks the primary reports are mirrored there, and a step the primary leaves
 * unanswered is answered from that local state (this worker's own counts; blocks seen here still
 * hold). While the primary is silent, steps are still sent but not waited for, so a primary that
 * is only slow keeps counting, and its first answer ends the fallback.
 */
import { type AuthGuard, DEFAULT_POLICIES, type PolicyName, sourceOf, type Verdict } from '../core/guard.js';
import type { Guard } from '../core/guard-port.js';

/** The Guard steps that cross the channel. */
const OPS = ['check', 'failure', 'success', 'waitMs', 'fail', 'succeed', 'unblock', 'blocks'] as const;
export type GuardOp = (typeof OPS)[number];

export interface GuardRequest {
  mg: 'guard';
  id: number;
  op: GuardOp;
  args: unknown[];
}
export type GuardResponse = { mg: 'guard-res'; id: number; value: unknown } | { mg: 'guard-res'; id: number; err: string };
/** Primary → every worker: a block was lifted, so the local mirrors drop it too. */
export interface GuardUnblocked {
  mg: 'guard-unblocked';
  source: string;
}

/** The worker's end of the IPC channel (process.send / process.on('message') in a real worker). */
export interface WorkerChannel {
  send(msg: GuardRequest): void;
  connected(): boolean;
}

/** Same as the Redis guard's command timeout (src/shared/redis-link.ts). */
export const GUARD_IPC_TIMEOUT_MS = 1_000;

export interface IpcGuard extends Guard {
  /** Feeds one message from the primary; true when it was a guard message (answered or not). */
  handle(msg: unknown): boolean;
  /** True while the primary answers (false after a timeout or with the channel gone). */
  readonly up: boolean;
}

/** The worker side; `local` is the write-through mirror (build it reporting events only while `up` is false). */
export function ipcGuard(deps: {
  channel: WorkerChannel;
  local: AuthGuard;
  timeoutMs?: number;
  /** A step answered locally because the primary did not answer (metrics, like redisFallback). */
  onFallback?: (op: GuardOp) => void;
  /** The primary stopped answering / answers again: logged once per change. */
  onLink?: (up: boolean) => void;
}): IpcGuard {
  const { channel, local } = deps;
  const timeoutMs = deps.timeoutMs ?? GUARD_IPC_TIMEOUT_MS;
  const pending = new Map<number, { resolve: (v: unknown) => void; timer: NodeJS.Timeout }>();
  let nextId = 1;
  let up = true;
  const setUp = (v: boolean) => {
    if (v === up) return;
    up = v;
    deps.onLink?.(v);
  };

  /** Sends a step; resolves to the primary's answer, or null when it cannot be had in time. */
  const ask = (op: GuardOp, args: unknown[], wait = true): Promise<unknown> => {
    const id = nextId++;
    try {
      if (!channel.connected()) throw new Error('channel closed');
      channel.send({ mg: 'guard', id, op, args });
    } catch {
      setUp(false);
      deps.onFallback?.(op);
      return Promise.resolve(null);
    }
    if (!wait) return Promise.resolve(null);
    if (!up) {
      deps.onFallback?.(op); // sent, so a slow primary still counts it; answered here now
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        setUp(false);
        deps.onFallback?.(op);
        resolve(null);
      }, timeoutMs);
      pending.set(id, { resolve, timer });
    });
  };
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

  return {
    get up() {
      return up;
    },
    handle(msg) {
      if (!msg || typeof msg !== 'object') return false;
      const m = msg as { mg?: unknown; id?: unknown; source?: unknown; value?: unknown; err?: unknown };
      if (m.mg === 'guard-unblocked') {
        if (typeof m.source === 'string') local.unblock(m.source);
        return true;
      }
      if (m.mg !== 'guard-res') return false;
      setUp(true); // any answer, even a late one, shows the primary is back
      const p = typeof m.id === 'number' ? pending.get(m.id) : undefined;
      if (!p) return true; // timed out already, fire-and-forget, or not ours: nothing waits for it
      pending.delete(m.id as number);
      clearTimeout(p.timer);
      p.resolve(m.err !== undefined ? null : m.value);
      return true;
    },
    async check(ip, account) {
      const here = local.check(ip, account);
      if (here.kind === 'blocked') return here; // a block seen here holds even if the primary lost it
      const v = (await ask('check', [ip, account])) as Verdict | null;
      if (v?.kind === 'blocked' && num(v.until) !== null) {
        if (v.reason === 'source-blocked') local.mirrorBlock(sourceOf(ip), v.until, 0);
        return v;
      }
      return v?.kind === 'allow' ? v : here;
    },
    async failure(ip, account, fp) {
      const here = local.failure(ip, account, fp);
      return num(await ask('failure', [ip, account, fp])) ?? here;
    },
    async success(ip, account) {
      local.success(ip, account);
      await ask('success', [ip, account], false); // nothing to wait for; IPC keeps the order
    },
    async waitMs(policy, ip, account) {
      return Math.max(local.waitMs(policy, ip, account), num(await ask('waitMs', [policy, ip, account])) ?? 0);
    },
    async fail(policy, ip, account, fp = '') {
      return Math.max(local.fail(policy, ip, account, fp), num(await ask('fail', [policy, ip, account, fp])) ?? 0);
    },
    async succeed(policy, ip, account) {
      local.succeed(policy, ip, account);
      await ask('succeed', [policy, ip, account], false);
    },
    async unblock(ipOrSource) {
      const here = local.unblock(ipOrSource);
      return (await ask('unblock', [ipOrSource])) === true || here;
    },
    async blocks() {
      const all = new Map(local.blocks().map((b) => [b.source, b]));
      const there = await ask('blocks', []);
      if (Array.isArray(there)) for (const b of there as Array<{ source: string; until: number; failures: number }>) all.set(b.source, b);
      return [...all.values()];
    },
  };
}

const isPolicy = (v: unknown): v is PolicyName => typeof v === 'string' && Object.hasOwn(DEFAULT_POLICIES, v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length <= 1024;
const isAcct = (v: unknown): v is string | null => v === null || isStr(v);

/** Runs one checked request on the primary's guard; throws on arguments of the wrong shape. */
function run(g: AuthGuard, op: GuardOp, a: unknown[]): unknown {
  const bad = () => new Error(`bad arguments for ${op}`);
  switch (op) {
    case 'check':
      if (!isStr(a[0]) || !isAcct(a[1])) throw bad();
      return g.check(a[0], a[1]);
    case 'failure':
      if (!isStr(a[0]) || !isAcct(a[1]) || !isStr(a[2])) throw bad();
      return g.failure(a[0], a[1], a[2]);
    case 'success':
      if (!isStr(a[0]) || !isStr(a[1])) throw bad();
      return g.success(a[0], a[1]);
    case 'waitMs':
      if (!isPolicy(a[0]) || !isStr(a[1]) || !isAcct(a[2])) throw bad();
      return g.waitMs(a[0], a[1], a[2]);
    case 'fail':
      if (!isPolicy(a[0]) || !isStr(a[1]) || !isAcct(a[2]) || !isStr(a[3] ?? '')) throw bad();
      return g.fail(a[0], a[1], a[2], (a[3] as string | undefined) ?? '');
    case 'succeed':
      if (!isPolicy(a[0]) || !isStr(a[1]) || !isStr(a[2])) throw bad();
      return g.succeed(a[0], a[1], a[2]);
    case 'unblock':
      if (!isStr(a[0])) throw bad();
      return g.unblock(a[0]);
    case 'blocks':
      return g.blocks();
  }
}

/**
 * The primary side: answers one worker message with the one guard. Returns false for a message
 * that is not a guard request; a malformed one gets an error answer (the worker then falls back
 * to its local state), never an exception in the supervisor.
 */
export function answerGuard(guard: AuthGuard, msg: unknown, reply: (r: GuardResponse) => void): boolean {
  if (!msg || typeof msg !== 'object' || (msg as { mg?: unknown }).mg !== 'guard') return false;
  const { id, op, args } = msg as Partial<GuardRequest>;
  if (typeof id !== 'number') return true; // nobody to answer
  if (!OPS.includes(op as GuardOp) || !Array.isArray(args)) {
    reply({ mg: 'guard-res', id, err: `unknown guard step ${String(op).slice(0, 40)}` });
    return true;
  }
  try {
    reply({ mg: 'guard-res', id, value: run(guard, op as GuardOp, args) ?? null });
  } catch (e) {
    reply({ mg: 'guard-res', id, err: (e as Error).message });
  }
  return true;
}
