/**
 * N sessions logged in through mailgate, each in IDLE on INBOX (what a phone or desktop app does
 * all day): mailgate's resident memory per session, its CPU while they idle, and whether they
 * all still answer afterwards (DONE → tagged OK).
 */
import { openLoggedIn, type Endpoint, type ImapConn } from './imap-client.js';
import type { Path } from './imap-load.js';
import { cpuMeter, openFds, rssByMapping, rssBytes } from './proc.js';
import type { GateProcess } from './testbed.js';

export interface IdleResult {
  target: number;
  /** Sessions that reached IDLE. */
  held: number;
  openErrors: number;
  firstError: string | null;
  setupSeconds: number;
  /** (RSS with the sessions − RSS before) / held, after a full GC both times. */
  rssPerSessionKB: number;
  /** The same for the V8 heap (used + external): the JavaScript share of the RSS. */
  heapPerSessionKB: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  /** mailgate's CPU while the sessions idle, in % of one core. */
  idleCpuPct: number;
  /** Sessions that answered DONE with a tagged OK after the idle window. */
  answered: number;
}

async function pool<T>(items: number, parallel: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items) }, async () => {
      while (next < items) await fn(next++);
    }),
  );
}

export interface IdleSession {
  c: ImapConn;
  done: () => Promise<string>;
}

/**
 * Opens up to `n` sessions through `ep` (LOGIN, SELECT INBOX, IDLE), `parallel` at a time, pushing
 * each into `into`; stops opening after `budgetMs` or too many errors. Also used by idle-child.ts.
 */
export async function openIdleSessions(
  ep: Endpoint,
  user: string,
  secret: string,
  n: number,
  o: { parallel: number; budgetMs: number },
  into: IdleSession[] = [],
): Promise<{ sessions: IdleSession[]; openErrors: number; firstError: string | null }> {
  let openErrors = 0;
  let firstError: string | null = null;
  const deadline = Date.now() + o.budgetMs;
  await pool(n, o.parallel, async () => {
    if (Date.now() > deadline || openErrors > Math.max(50, n / 10)) return;
    let c: ImapConn | null = null;
    try {
      c = await openLoggedIn(ep, user, secret, 60_000);
      await c.ok('SELECT INBOX', 60_000);
      const idle = await c.idle(60_000);
      into.push({ c, done: idle.done });
    } catch (e) {
      openErrors++;
      firstError ??= (e as Error).message;
      c?.close();
    }
  });
  return { sessions: into, openErrors, firstError };
}

/** Ends the IDLE of every session still open (DONE); resolves to how many answered with a tagged OK. */
export async function endIdle(sessions: IdleSession[], parallel: number): Promise<number> {
  const live = sessions.filter((s) => !s.c.closed);
  let answered = 0;
  await pool(live.length, parallel, async (i) => {
    try {
      if (/^\S+ OK/.test(await live[i]!.done())) answered++;
    } catch {
      /* counted as not answered */
    }
  });
  return answered;
}

/** RSS and V8 heap (used + external) after a full GC, once the process has settled. */
async function settledMemory(gate: GateProcess): Promise<{ rss: number; heap: number }> {
  await new Promise((r) => setTimeout(r, 1000));
  const m = await gate.control('gc');
  await new Promise((r) => setTimeout(r, 500));
  // BENCH_IDLE_MEM=1: where the memory is (V8 spaces, external, RSS by mapping), to stderr.
  if (process.env.BENCH_IDLE_MEM)
    process.stderr.write(`idle: gate memory ${JSON.stringify({ ...m, byMapping: rssByMapping(gate.pid) })}\n`);
  return { rss: rssBytes(gate.pid), heap: Number(m.heapUsed) + Number(m.external) };
}

/** Opens `n` IDLE sessions through `p` (must be the mailgate path), measures, closes them. */
export async function idleSessions(
  p: Path,
  gate: GateProcess,
  n: number,
  o: { parallel: number; idleMs: number; settleMs: number; setupBudgetMs: number },
): Promise<IdleResult> {
  const fds0 = openFds(gate.pid);
  const mem0 = await settledMemory(gate);
  // BENCH_IDLE_HEAP=DIR: heap snapshots before and with the sessions, to diff by constructor.
  const heapDir = process.env.BENCH_IDLE_HEAP;
  const snapshot = (name: string) => (heapDir ? gate.control(`heap ${heapDir}/idle-${n}-${gate.pid}-${name}.heapsnapshot`, 300_000) : null);
  await snapshot('before');
  const sessions: IdleSession[] = [];
  const t0 = Date.now();
  try {
    const { openErrors, firstError } = await openIdleSessions(
      p.ep,
      p.user,
      p.secret,
      n,
      { parallel: o.parallel, budgetMs: o.setupBudgetMs },
      sessions,
    );
    const setupSeconds = (Date.now() - t0) / 1000;
    const mem1 = await settledMemory(gate);
    await snapshot('after');
    await new Promise((r) => setTimeout(r, o.settleMs)); // let the GC's background threads finish
    const cpu = cpuMeter(gate.pid);
    await new Promise((r) => setTimeout(r, o.idleMs));
    const idleCpuPct = (cpu() / (o.idleMs / 1000)) * 100;
    const answered = await endIdle(sessions, o.parallel);
    const held = sessions.length;
    return {
      target: n,
      held,
      openErrors,
      firstError,
      setupSeconds,
      rssPerSessionKB: held ? (mem1.rss - mem0.rss) / held / 1024 : Number.NaN,
      heapPerSessionKB: held ? (mem1.heap - mem0.heap) / held / 1024 : Number.NaN,
      rssBeforeMB: mem0.rss / 1e6,
      rssAfterMB: mem1.rss / 1e6,
      idleCpuPct,
      answered,
    };
  } finally {
    for (const s of sessions) s.c.close();
    // Wait (bounded) until the gate has let go of the sockets, so the next phase starts clean.
    const until = Date.now() + 30_000;
    while (Date.now() < until && openFds(gate.pid) > fds0 + 20) await new Promise((r) => setTimeout(r, 200));
  }
}
