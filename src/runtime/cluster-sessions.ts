/**
 * Live-session counts across `serve --workers N`: the portal and admin API run in worker 0 only,
 * yet the counts they show (an account's live sessions, the devices connected with a passcode —
 * what a user looks at before revoking it) must cover every worker.
 *
 * Each other worker reports its counts by account and by passcode to the supervisor; the
 * supervisor keeps the latest per worker (dropped when the worker dies) and sends worker 0 the
 * sums, which worker 0's SessionRegistry adds in `count()`. Only counts cross the channel, never
 * session lists, and only the keys that changed since the last message (a key at 0 is gone), so
 * 20,000 idle sessions cost nothing and a login storm costs one message per interval: both ends
 * send at most once every `SESSIONS_REPORT_MS`, which is how far the portal's counts may lag.
 * Messages are checked strictly: anything malformed is ignored, nothing here throws.
 */
import type { RemoteSessionCounts, SessionFilter, SessionRegistry } from '../core/sessions.js';

/** At most one counts message per this many ms from each worker, and from the supervisor to worker 0. */
export const SESSIONS_REPORT_MS = 200;

type Dim = 'account' | 'passcode';
/** [key, count] pairs (pairs, not an object: an account named "__proto__" must stay a key). */
type Pairs = Array<[string, number]>;
/** Worker → supervisor: this worker's counts for the keys that changed. */
export interface SessionsReport {
  mg: 'sessions';
  account: Pairs;
  passcode: Pairs;
}
/** Supervisor → worker 0: the other workers' summed counts for the keys that changed (`full`: all of them). */
export interface RemoteSessions {
  mg: 'sessions-remote';
  full: boolean;
  account: Pairs;
  passcode: Pairs;
}

/** The timers this module uses (injected in the unit tests). */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}
const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), // a pending report never keeps a process alive
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** Runs `fn` soon after `trigger()`, but at most once every `ms`; changes in between ride along. */
export function throttle(fn: () => void, ms: number, timers: Timers = realTimers): { trigger(): void; cancel(): void } {
  let last = Number.NEGATIVE_INFINITY;
  let timer: unknown = null;
  return {
    trigger() {
      if (timer !== null) return;
      timer = timers.setTimeout(
        () => {
          timer = null;
          last = timers.now();
          fn();
        },
        Math.max(0, last + ms - timers.now()),
      );
    },
    cancel() {
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
    },
  };
}

const MAX_KEY = 1024;
const MAX_PAIRS = 1_000_000;
/** The pairs of a message, or null when they are not [short string, count] pairs. */
function pairsOf(v: unknown): Pairs | null {
  if (!Array.isArray(v) || v.length > MAX_PAIRS) return null;
  for (const p of v) {
    if (!Array.isArray(p) || p.length !== 2) return null;
    const [k, n] = p as unknown[];
    if (typeof k !== 'string' || k.length > MAX_KEY || !Number.isSafeInteger(n) || (n as number) < 0) return null;
  }
  return v as Pairs;
}
/** The account and passcode pairs of a message of kind `mg`, or null when it is another or malformed. */
function parse(m: unknown, mg: string): { account: Pairs; passcode: Pairs; full: unknown } | null {
  if (!m || typeof m !== 'object' || (m as { mg?: unknown }).mg !== mg) return null;
  const { account, passcode, full } = m as Record<string, unknown>;
  const a = pairsOf(account);
  const p = pairsOf(passcode);
  return a && p ? { account: a, passcode: p, full } : null;
}
const isMessage = (m: unknown, mg: string) => !!m && typeof m === 'object' && (m as { mg?: unknown }).mg === mg;

/** A worker other than 0: reports its registry's changed counts to the supervisor; returns the stop. */
export function reportSessions(deps: {
  registry: SessionRegistry;
  send(m: SessionsReport): void;
  ms?: number;
  timers?: Timers;
}): () => void {
  const dirty = { account: new Set<string>(), passcode: new Set<string>() };
  const flush = () => {
    const pairs = (dim: Dim): Pairs =>
      [...dirty[dim]].map((k) => [k, deps.registry.localCount(dim === 'account' ? { account: k } : { passcodeId: k })]);
    const m: SessionsReport = { mg: 'sessions', account: pairs('account'), passcode: pairs('passcode') };
    dirty.account.clear();
    dirty.passcode.clear();
    try {
      deps.send(m);
    } catch {
      // The supervisor is gone: this worker is draining and nobody reads the counts any more.
    }
  };
  const t = throttle(flush, deps.ms ?? SESSIONS_REPORT_MS, deps.timers);
  const off = deps.registry.onCountChange((dim, key) => {
    dirty[dim].add(key);
    t.trigger();
  });
  return () => {
    off();
    t.cancel();
  };
}

/** The supervisor's side: the latest counts of every worker, and worker 0's sums of the others. */
export class SessionTally {
  private readonly workers = new Map<number, { account: Map<string, number>; passcode: Map<string, number> }>();
  private readonly dirty = { account: new Set<string>(), passcode: new Set<string>() };
  private readonly flusher: { trigger(): void; cancel(): void };

  constructor(private readonly deps: { sendToPortal(m: RemoteSessions): void; ms?: number; timers?: Timers }) {
    this.flusher = throttle(() => this.flush(false), deps.ms ?? SESSIONS_REPORT_MS, deps.timers);
  }

  /** Takes one message from worker `index`; true when it was a sessions report (applied or, malformed, ignored). */
  handle(index: number, m: unknown): boolean {
    if (!isMessage(m, 'sessions')) return false;
    const r = parse(m, 'sessions');
    if (!r || index === 0) return true; // worker 0 adds its own sessions itself
    const w = this.workers.get(index) ?? { account: new Map<string, number>(), passcode: new Map<string, number>() };
    this.workers.set(index, w);
    for (const dim of ['account', 'passcode'] as const) {
      for (const [k, n] of r[dim]) {
        if (n > 0) w[dim].set(k, n);
        else w[dim].delete(k);
        this.dirty[dim].add(k);
      }
    }
    this.flusher.trigger();
    return true;
  }

  /** Worker `index` died: its sessions died with it. */
  drop(index: number): void {
    const w = this.workers.get(index);
    if (!w) return;
    this.workers.delete(index);
    for (const dim of ['account', 'passcode'] as const) for (const k of w[dim].keys()) this.dirty[dim].add(k);
    this.flusher.trigger();
  }

  /** A (new) worker 0 is serving: it gets every sum at once, since it knows none. */
  portalReady(): void {
    this.flusher.cancel();
    this.flush(true);
  }

  /** The latest counts of the workers other than 0, summed, for one key. */
  sum(dim: Dim, key: string): number {
    let n = 0;
    for (const w of this.workers.values()) n += w[dim].get(key) ?? 0;
    return n;
  }

  stop(): void {
    this.flusher.cancel();
  }

  private flush(full: boolean): void {
    const pairs = (dim: Dim): Pairs => {
      const keys = full ? new Set([...this.workers.values()].flatMap((w) => [...w[dim].keys()])) : this.dirty[dim];
      return [...keys].map((k) => [k, this.sum(dim, k)]);
    };
    const m: RemoteSessions = { mg: 'sessions-remote', full, account: pairs('account'), passcode: pairs('passcode') };
    this.dirty.account.clear();
    this.dirty.passcode.clear();
    if (!full && m.account.length === 0 && m.passcode.length === 0) return;
    try {
      this.deps.sendToPortal(m);
    } catch {
      // Worker 0 is gone: its replacement gets everything at its `ready` (portalReady).
    }
  }
}

/** Worker 0's side: the other workers' counts, which its SessionRegistry adds in (`setRemote`). */
export class RemoteCounts implements RemoteSessionCounts {
  private readonly counts = { account: new Map<string, number>(), passcode: new Map<string, number>() };
  private total = 0;

  /** Takes one message from the supervisor; true when it was a sessions message (applied or ignored). */
  handle(m: unknown): boolean {
    if (!isMessage(m, 'sessions-remote')) return false;
    const r = parse(m, 'sessions-remote');
    if (!r) return true;
    if (r.full === true) {
      this.counts.account.clear();
      this.counts.passcode.clear();
      this.total = 0;
    }
    for (const dim of ['account', 'passcode'] as const) {
      for (const [k, n] of r[dim]) {
        // Every session has an account: the total follows the account counts.
        if (dim === 'account') this.total += n - (this.counts.account.get(k) ?? 0);
        if (n > 0) this.counts[dim].set(k, n);
        else this.counts[dim].delete(k);
      }
    }
    return true;
  }

  count(filter: SessionFilter): number {
    // A passcode's sessions are all its account's: with both, the passcode's count is the answer.
    if (filter.passcodeId !== undefined) return this.counts.passcode.get(filter.passcodeId) ?? 0;
    if (filter.account !== undefined) return this.counts.account.get(filter.account) ?? 0;
    return this.total;
  }
}
