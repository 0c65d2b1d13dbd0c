/**
 * The "20,000 idle TLS sessions held on this machine". One process may hold at most as
 * many sockets as its open-files hard limit (20,000 here, and nothing in this container may raise
 * it) and a spliced session needs two, so the gate runs as `mailgate serve` with `limits.workers`
 * processes sharing the listeners, and the clients are spread over child processes
 * (idle-child.ts). Memory is the RSS of the serve process and its workers, before and after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse, stringify } from 'yaml';
import { freePorts, isPortOpen } from '../src/demo/ports.js';
import type { Path } from './imap-load.js';
import { childPids, cpuSeconds, treeRssBytes } from './proc.js';

const root = new URL('..', import.meta.url).pathname;
const PER_CHILD = 7000;

export interface ManyResult {
  target: number;
  workers: number;
  clients: number;
  held: number;
  answered: number;
  openErrors: number;
  firstError: string | null;
  setupSeconds: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  rssPerSessionKB: number;
  idleCpuPct: number;
}

/** Worker processes for `n` spliced sessions under an open-files limit of `fdLimit` per process. */
export function workersFor(n: number, fdLimit: number): number {
  return Math.max(1, Math.ceil((2 * n + 200) / Math.max(1000, fdLimit - 500)));
}

interface Child {
  proc: ChildProcess;
  next(timeoutMs: number): Promise<Record<string, unknown>>;
}

/** `secret` goes in the child's environment: argv is visible to every user in `ps`. */
function spawnChild(args: unknown, secret: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench/idle-child.ts'), JSON.stringify(args)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, IDLE_CHILD_SECRET: secret },
  });
  const queue: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l);
    else queue.push(l);
  });
  return {
    proc,
    next: (timeoutMs) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('idle-child did not answer')), timeoutMs);
        const take = (l: string) => {
          clearTimeout(t);
          resolve(JSON.parse(l) as Record<string, unknown>);
        };
        const q = queue.shift();
        if (q !== undefined) take(q);
        else waiters.push(take);
      }),
  };
}

/** Starts `mailgate serve` with `workers` processes on fixed ports from the warm config; resolves once it accepts. */
async function startServe(
  warmConfig: string,
  dir: string,
  workers: number,
): Promise<{ pid: number; plain: number; tls: number; stop(): Promise<void> }> {
  const [plain, tls] = (await freePorts(2)) as [number, number];
  const doc = parse(readFileSync(warmConfig, 'utf8')) as Record<string, Record<string, unknown>>;
  doc.imap!.listen = [
    { host: '127.0.0.1', port: plain, tls: 'none' },
    { host: '127.0.0.1', port: tls, tls: 'implicit' },
  ];
  delete doc.pop3;
  delete doc.smtp;
  doc.limits = { ...doc.limits, workers, max_connections: 30_000 };
  const file = join(dir, 'gate-many.yaml');
  writeFileSync(file, stringify(doc));
  const proc = spawn(process.execPath, [join(root, 'bin/mailgate.js'), 'serve', '--config', file, '--no-migrate'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const until = Date.now() + 30_000;
  // With one worker, serve runs without a supervisor: no child processes to wait for.
  while (!(await isPortOpen(tls)) || (workers > 1 && childPids(proc.pid!).length < workers)) {
    if (Date.now() > until || proc.exitCode !== null) {
      for (const pid of [...childPids(proc.pid!), proc.pid!]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      throw new Error(`mailgate serve (workers ${workers}) did not start`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 1000)); // every worker listening
  return {
    pid: proc.pid!,
    plain,
    tls,
    stop: async () => {
      if (proc.exitCode !== null) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}

/** Opens `n` IDLE sessions through a `serve --workers` gate, measures, ends them. */
export async function manyIdleSessions(
  p: Path,
  o: { n: number; fdLimit: number; warmConfig: string; dir: string; idleMs: number; log(msg: string): void },
): Promise<ManyResult> {
  const workers = workersFor(o.n, o.fdLimit);
  const gate = await startServe(o.warmConfig, o.dir, workers);
  const children: Child[] = [];
  try {
    const port = p.ep.tls ? gate.tls : gate.plain;
    await new Promise((r) => setTimeout(r, 1000));
    const rss0 = treeRssBytes(gate.pid);
    const k = Math.ceil(o.n / PER_CHILD);
    const t0 = Date.now();
    for (let i = 0; i < k; i++) {
      const share = Math.min(PER_CHILD, o.n - i * PER_CHILD);
      // The CA goes as PEM text (a Buffer does not survive JSON); idle-child.ts turns it back.
      const ep = { ...p.ep, port, ca: p.ep.ca?.toString('utf8') };
      children.push(spawnChild({ ep, user: p.user, n: share, parallel: 40, budgetMs: 300_000 }, p.secret));
    }
    o.log(`idle: ${o.n} sessions via ${workers} gate workers and ${k} client processes`);
    const opened = await Promise.all(children.map((c) => c.next(360_000)));
    const setupSeconds = (Date.now() - t0) / 1000;
    const held = opened.reduce((a, r) => a + Number(r.held), 0);
    await new Promise((r) => setTimeout(r, 3000));
    const rss1 = treeRssBytes(gate.pid);
    const pids = [gate.pid, ...childPids(gate.pid)];
    const cpu0 = pids.reduce((a, x) => a + cpuSeconds(x), 0);
    await new Promise((r) => setTimeout(r, o.idleMs));
    const idleCpuPct = ((pids.reduce((a, x) => a + cpuSeconds(x), 0) - cpu0) / (o.idleMs / 1000)) * 100;
    for (const c of children) c.proc.stdin!.write('done\n');
    const done = await Promise.all(children.map((c) => c.next(300_000)));
    return {
      target: o.n,
      workers,
      clients: k,
      held,
      answered: done.reduce((a, r) => a + Number(r.answered), 0),
      openErrors: opened.reduce((a, r) => a + Number(r.openErrors), 0),
      firstError: (opened.find((r) => r.firstError)?.firstError as string | undefined) ?? null,
      setupSeconds,
      rssBeforeMB: rss0 / 1e6,
      rssAfterMB: rss1 / 1e6,
      rssPerSessionKB: held ? (rss1 - rss0) / held / 1024 : Number.NaN,
      idleCpuPct,
    };
  } finally {
    for (const c of children) c.proc.stdin!.end();
    await Promise.all(children.map((c) => (c.proc.exitCode === null ? new Promise((r) => c.proc.once('exit', r)) : null)));
    await gate.stop();
  }
}
