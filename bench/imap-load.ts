/**
 * IMAP loads, each run against one endpoint (Dovecot directly, or mailgate) and bounded in
 * count and time: bulk FETCH, small-command round trips, login storms, and the head-of-line
 * check (small commands on established sessions while a login storm runs).
 */
import { type ImapConn, openLoggedIn, q, type Endpoint } from './imap-client.js';
import { cpuMeter } from './proc.js';
import { latency, msSince, timedLoop, type LatencySummary } from './stats.js';

/** One way in: the endpoint plus the credentials that work there, and the gate's pid if any. */
export interface Path {
  label: 'direct' | 'mailgate' | 'pipe' | 'floor' | 'nginx';
  ep: Endpoint;
  user: string;
  secret: string;
  /** The proxy process whose CPU is measured (null: direct). */
  gatePid: number | null;
  /** Count the proxy's child processes too (nginx workers). */
  cpuTree?: boolean;
}

export interface BulkResult {
  mbPerS: number;
  bytes: number;
  seconds: number;
  gateCpuPerGB: number;
  loadgenCpuPerGB: number;
}

/**
 * `FETCH 1:* BODY.PEEK[]` of `mailbox` on one session (one untimed warm-up pass first), repeated
 * until `minMs` have passed (at most `maxPasses`, at most `budgetMs`); throughput counts every
 * byte received. MB = 10^6 bytes.
 */
export async function bulkFetch(
  p: Path,
  mailbox: string,
  expected: number,
  o: { minMs: number; maxPasses: number; budgetMs: number },
): Promise<BulkResult> {
  const budgetMs = o.budgetMs;
  const c = await openLoggedIn(p.ep, p.user, p.secret);
  try {
    await c.ok(`EXAMINE ${q(mailbox)}`);
    await c.ok('FETCH 1:* BODY.PEEK[]', budgetMs);
    const gateCpu = p.gatePid ? cpuMeter(p.gatePid, p.cpuTree) : () => Number.NaN;
    const ownCpu = cpuMeter(process.pid);
    const bytes0 = c.bytesIn;
    const t0 = process.hrtime.bigint();
    const deadline = Date.now() + budgetMs;
    let done = 0;
    const enough = Date.now() + o.minMs;
    for (let i = 0; i < o.maxPasses && Date.now() < deadline && (i === 0 || Date.now() < enough); i++) {
      const u0 = c.untagged;
      await c.ok('FETCH 1:* BODY.PEEK[]', budgetMs);
      if (c.untagged - u0 < expected) throw new Error(`bulk FETCH returned ${c.untagged - u0} of ${expected} messages`);
      done++;
    }
    const seconds = msSince(t0) / 1000;
    const bytes = c.bytesIn - bytes0;
    const gb = bytes / 1e9;
    if (done === 0) throw new Error('bulk FETCH: no complete pass within the time budget');
    return { mbPerS: bytes / 1e6 / seconds, bytes, seconds, gateCpuPerGB: gateCpu() / gb, loadgenCpuPerGB: ownCpu() / gb };
  } finally {
    c.close();
  }
}

export interface SmallResult {
  noop: LatencySummary;
  fetchFlags: LatencySummary;
}

/** Sequential round trips on one open session: `count` NOOPs, then `count` `FETCH n (FLAGS)`. */
export async function smallCommands(p: Path, mailbox: string, messages: number, count: number, budgetMs: number): Promise<SmallResult> {
  const c = await openLoggedIn(p.ep, p.user, p.secret);
  try {
    await c.ok(`SELECT ${q(mailbox)}`);
    for (let i = 0; i < 100; i++) await c.ok('NOOP'); // warm-up (JIT, caches, TCP windows)
    const timed = async (cmd: () => string): Promise<number[]> => {
      const out: number[] = [];
      const deadline = Date.now() + budgetMs / 2;
      for (let i = 0; i < count && Date.now() < deadline; i++) {
        const t = process.hrtime.bigint();
        await c.ok(cmd());
        out.push(msSince(t));
      }
      return out;
    };
    const noop = await timed(() => 'NOOP');
    const fetch = await timed(() => `FETCH ${1 + Math.floor(Math.random() * messages)} (FLAGS)`);
    return { noop: latency(noop), fetchFlags: latency(fetch) };
  } finally {
    c.close();
  }
}

export interface LoginResult {
  perS: number;
  ok: number;
  errors: number;
  lat: LatencySummary;
  firstError: string | null;
}

/**
 * `concurrency` clients, each looping connect → greeting → LOGIN → LOGOUT (waiting for the
 * server to close), until `maxLogins` or `budgetMs`. Latency is connect-to-tagged-OK.
 */
export async function loginStorm(
  p: Path,
  concurrency: number,
  maxLogins: number,
  budgetMs: number,
  stop?: { stopped: boolean },
): Promise<LoginResult> {
  const r = await timedLoop({ concurrency, max: maxLogins, budgetMs, maxErrors: 20, stop }, async () => {
    const c = await openLoggedIn(p.ep, p.user, p.secret, 30_000);
    try {
      await c.logout();
    } catch (e) {
      c.close();
      throw e;
    }
  });
  return { perS: r.samples.length / r.seconds, ok: r.samples.length, errors: r.errors, lat: latency(r.samples), firstError: r.firstError };
}

export interface HolResult {
  quiet: LatencySummary;
  storm: LatencySummary;
  stormLogins: LoginResult;
  /** The gate's event-loop delay during the storm (mailgate path only). */
  eld: EventLoopDelay | null;
}

/** perf_hooks.monitorEventLoopDelay percentiles, in ms. */
export interface EventLoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Head-of-line check: `sessions` established sessions each send a NOOP every ~`gapMs`; p99 of
 * their round trips for `windowMs` without, then with a login storm on the same endpoint.
 */
export async function headOfLine(
  p: Path,
  sessions: number,
  gapMs: number,
  windowMs: number,
  storm: { concurrency: number; maxLogins: number },
  /** Called just before and after the storm (the bench reads the gate's event-loop delay there). */
  around?: { before: () => Promise<void>; after: () => Promise<EventLoopDelay> },
): Promise<HolResult> {
  const conns: ImapConn[] = [];
  let eld: EventLoopDelay | null = null;
  try {
    for (let i = 0; i < sessions; i++) conns.push(await openLoggedIn(p.ep, p.user, p.secret, 60_000));
    const measure = async (during: () => Promise<void>): Promise<number[]> => {
      const samples: number[] = [];
      const flag = { on: true };
      const loops = conns.map(async (c, i) => {
        await new Promise((r) => setTimeout(r, (i * gapMs) / sessions)); // spread the sessions out
        while (flag.on && !c.closed) {
          const t = process.hrtime.bigint();
          await c.ok('NOOP', 30_000);
          samples.push(msSince(t));
          await new Promise((r) => setTimeout(r, gapMs * (0.5 + Math.random())));
        }
      });
      await during();
      flag.on = false;
      await Promise.all(loops);
      return samples;
    };
    const quiet = await measure(() => new Promise((r) => setTimeout(r, windowMs)));
    let stormLogins: LoginResult | null = null;
    const stormed = await measure(async () => {
      // Let the storm saturate the gate first, then sample only while it runs.
      await around?.before();
      stormLogins = await loginStorm(p, storm.concurrency, storm.maxLogins, windowMs);
      eld = (await around?.after()) ?? null;
    });
    return { quiet: latency(quiet), storm: latency(stormed), stormLogins: stormLogins!, eld };
  } finally {
    for (const c of conns) c.close();
  }
}
