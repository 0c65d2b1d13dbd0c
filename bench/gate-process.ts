/**
 * mailgate in its own process for the benchmark (a load generator in the same process would
 * share its event loop and its CPU accounting).
 *
 *   node --import tsx bench/gate-process.ts CONFIG.yaml
 *
 * Prints one JSON line on stdout once listening: { pid, imap: [...addresses], smtp: [...] | null,
 * smtpError }. If the SMTP front cannot start (not implemented yet), it starts without it and
 * says so in smtpError. Control lines on stdin, each answered with one JSON line on stdout:
 *   gc                 run a full garbage collection (needs --expose-gc), answer { rss, heapUsed, heapTotal,
 *                      external, arrayBuffers, spaces: { name: { size, used } } }
 *   prof-start         start the V8 CPU profiler
 *   prof-stop FILE     stop it and write a .cpuprofile (open in Chrome DevTools / speedscope)
 *   heap FILE          write a heap snapshot
 *   io-start, io-stop  count socket reads/writes and their sizes in between (io-count.ts)
 *   pg-start, pg-stop  count PostgreSQL statements in between (pg-count.ts)
 *   gc-start, gc-stop  count garbage collections by kind and their pauses in between (gc-count.ts)
 *   eld-start, eld-stop  event-loop delay (perf_hooks.monitorEventLoopDelay) in between: p50/p99/max ms
 * SIGTERM/SIGINT or the end of stdin (the bench died) close the server and exit.
 */
import { openSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import type { Server } from '../src/main.js';
import { startGcCounting, stopGcCounting } from './gc-count.js';
import { startCounting, stopCounting } from './io-count.js';
import { startPgCounting, stopPgCounting } from './pg-count.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: gate-process.ts CONFIG.yaml\n');
  process.exit(2);
}

// mailgate as it ships: the tsc output in dist/ (bench/run.ts builds it first), not the TypeScript
// through tsx, whose esbuild transform wraps every class and closure in a `__name` helper — 3 % of
// the gate's CPU per warm login in the profile. MAILGATE_BENCH_FROM=src measures the sources,
// MAILGATE_BENCH_FROM=/abs/dir another build.
const fromEnv = process.env.MAILGATE_BENCH_FROM;
// 'src', or the absolute path of another build (A/B runs: `tsc -p tsconfig.build.json --outDir DIR`
// with DIR inside the checkout, so that node_modules resolves).
const from = fromEnv === 'src' ? '../src' : fromEnv?.startsWith('/') ? fromEnv : '../dist';
const { loadConfig } = (await import(`${from}/config/load.js`)) as typeof import('../src/config/load.js');
const { createLogger } = (await import(`${from}/runtime/logger.js`)) as typeof import('../src/runtime/logger.js');
const { startServer } = (await import(`${from}/main.js`)) as typeof import('../src/main.js');

const config = loadConfig(file);
// Logged like a production `serve` (info by default: a line per login and per session end), into a
// file beside the config instead of the bench's terminal.
const log = createLogger({ level: config.log.level, destination: openSync(join(dirname(file), `gate-${process.pid}.log`), 'a') });
let server: Server;
let smtpError: string | null = null;
try {
  server = await startServer(config, { log });
} catch (e) {
  if (!config.smtp) throw e;
  // The SMTP front may not exist yet: measure IMAP anyway and report SMTP as unavailable.
  smtpError = (e as Error).message;
  server = await startServer({ ...config, smtp: null }, { log });
}

const reply = (o: unknown): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};
reply({
  pid: process.pid,
  imap: server.imap?.addresses ?? [],
  smtp: server.smtp?.addresses ?? null,
  pop3: server.pop3?.addresses ?? [],
  smtpError,
});

let stopping = false;
const stop = (code: number): void => {
  if (stopping) return;
  stopping = true;
  const hard = setTimeout(() => process.exit(code), 5000);
  hard.unref();
  server
    .close()
    .catch(() => undefined)
    .finally(() => process.exit(code));
};
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

const inspector = new Session();
let profiling = false;
let eld: IntervalHistogram | null = null;
const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => inspector.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))));

async function control(line: string): Promise<unknown> {
  const [cmd, arg] = line.trim().split(/\s+/, 2);
  switch (cmd) {
    case 'gc': {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        gc();
        gc();
      }
      const m = process.memoryUsage();
      // Committed V8 pages per space (what the RSS sees of the heap) beside what is in use.
      const spaces = Object.fromEntries(
        getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]),
      );
      return {
        ok: true,
        gc: Boolean(gc),
        rss: m.rss,
        heapUsed: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        spaces,
      };
    }
    case 'prof-start':
      if (!profiling) {
        inspector.connect();
        await post('Profiler.enable');
        await post('Profiler.start');
        profiling = true;
      }
      return { ok: true };
    case 'prof-stop': {
      if (!profiling || !arg) return { ok: false };
      const { profile } = await post<{ profile: unknown }>('Profiler.stop');
      writeFileSync(arg, JSON.stringify(profile));
      inspector.disconnect();
      profiling = false;
      return { ok: true, file: arg };
    }
    case 'eld-start':
      // The gate's event-loop delay (how late timers and I/O callbacks run), sampled every 1 ms.
      eld?.disable();
      eld = monitorEventLoopDelay({ resolution: 1 });
      eld.enable();
      return { ok: true };
    case 'eld-stop': {
      if (!eld) return { ok: false };
      eld.disable();
      const ms = (ns: number) => ns / 1e6;
      const r = { ok: true, p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max), mean: ms(eld.mean) };
      eld = null;
      return r;
    }
    case 'io-start':
      startCounting();
      return { ok: true };
    case 'io-stop':
      return { ok: true, ...stopCounting() };
    case 'gc-start':
      startGcCounting();
      return { ok: true };
    case 'gc-stop':
      return { ok: true, ...stopGcCounting() };
    case 'pg-start':
      startPgCounting();
      return { ok: true };
    case 'pg-stop':
      return { ok: true, ...stopPgCounting() };
    case 'heap':
      return { ok: true, file: arg ? writeHeapSnapshot(arg) : writeHeapSnapshot() };
    default:
      return { ok: false, error: `unknown command ${cmd ?? ''}` };
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  void control(line).then(reply, (e: Error) => reply({ ok: false, error: e.message }));
});
rl.on('close', () => stop(0));
