/**
 * N sessions logged in through mailgate, each in IDLE on INBOX (what a phone or desktop app does
 * all day): mailgate's resident memory per session, its CPU while they idle, and whether they
 * all still answer afterwards (DONE → tagged OK).
 */
import { openLoggedIn, type ImapConn } from './imap-client.js';
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
  const sessions: Array<{ c: ImapConn; done: () => Promise<string> }> = [];
  let openErrors = 0;
  let firstError: string | null = null;
  const t0 = Date.now();
  const deadline = t0 + o.setupBudgetMs;
  try {
    await pool(n, o.parallel, async () => {
      if (Date.now() > deadline || openErrors > Math.max(50, n / 10)) return;
      let c: ImapConn | null = null;
      try {
        c = await openLoggedIn(p.ep, p.user, p.secret, 60_000);
        await c.ok('SELECT INBOX', 60_000);
        const idle = await c.idle(60_000);
        sessions.push({ c, done: idle.done });
      } catch (e) {
        openErrors++;
        firstError ??= (e as Error).message;
        c?.close();
      }
    });
    const setupSeconds = (Date.now() - t0) / 1000;
    const mem1 = await settledMemory(gate);
    await snapshot('after');
    await new Promise((r) => setTimeout(r, o.settleMs)); // let the GC's background threads finish
    const cpu = cpuMeter(gate.pid);
    await new Promise((r) => setTimeout(r, o.idleMs));
    const idleCpuPct = (cpu() / (o.idleMs / 1000)) * 100;
    const live = sessions.filter((s) => !s.c.closed);
    let answered = 0;
    await pool(live.length, o.parallel, async (i) => {
      try {
        if (/^\S+ OK/.test(await live[i]!.done())) answered++;
      } catch {
        /* counted as not answered */
      }
    });
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
