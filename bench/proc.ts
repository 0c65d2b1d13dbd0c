/**
 * Process accounting from /proc (Linux): CPU time (all threads, including the bcrypt workers)
 * and resident memory of the processes under test, plus the machine's load.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * The fields of /proc/PID/stat after the ")" that closes the command name (which may hold spaces):
 * [0] state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime. Null if the process is gone.
 */
function statFields(pid: number | string): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of a process (all its threads) in seconds; NaN if it is gone. */
export function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS : Number.NaN;
}

/**
 * User and system CPU seconds and context switches (voluntary: waited for I/O; involuntary:
 * preempted) of a process, all its threads; NaNs if it is gone.
 */
export function cpuDetail(pid: number): { user: number; sys: number; vcsw: number; ivcsw: number } {
  try {
    const f = statFields(pid);
    if (!f) throw new Error('gone');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    // /proc/PID/status counts the main thread's switches only; sum the threads'.
    let vcsw = 0;
    let ivcsw = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const ts = t === String(pid) ? status : readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      vcsw += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(ts)?.[1] ?? 0);
      ivcsw += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(ts)?.[1] ?? 0);
    }
    return { user: Number(f[11]) / TICKS, sys: Number(f[12]) / TICKS, vcsw, ivcsw };
  } catch {
    return { user: Number.NaN, sys: Number.NaN, vcsw: Number.NaN, ivcsw: Number.NaN };
  }
}

/** Resident set size of a process in bytes (VmRSS); NaN if it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Resident KB by kind of mapping (/proc/PID/smaps): `[heap]` is malloc's main arena (OpenSSL,
 * Node's native objects), `anon` the other anonymous mappings (V8's pages, other arenas), `file`
 * code and data of binaries. Tells which allocator an RSS difference came from.
 */
export function rssByMapping(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const name = m[1] ?? '';
      kind = name.startsWith('/') ? 'file' : name === '' ? 'anon' : name;
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) out[kind] = (out[kind] ?? 0) + Number(r[1]);
  }
  return out;
}

/** Number of open file descriptors of a process; NaN if it cannot be read. */
export function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** Direct children of a process (by scanning /proc: /proc/PID/task/PID/children is not everywhere). */
export function childPids(pid: number): number[] {
  return [...allStats()].filter(([, f]) => Number(f[1]) === pid).map(([p]) => p);
}

/** Every process's stat fields, by pid (one pass over /proc). */
function allStats(): Map<number, string[]> {
  const stats = new Map<number, string[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(e); // null: gone meanwhile (its parent's cutime has it once reaped)
    if (f) stats.set(Number(e), f);
  }
  return stats;
}

/** Resident memory of a process and its direct children (a `serve --workers N` primary and its workers). */
export function treeRssBytes(pid: number): number {
  return [pid, ...childPids(pid)].reduce((a, p) => a + rssBytes(p), 0);
}

/**
 * A CPU meter: seconds of CPU used since the call, by `pid` and, with `withChildren`, by its
 * direct children as they were at the start (nginx: master + workers).
 */
export function cpuMeter(pid: number, withChildren = false): () => number {
  const pids = withChildren ? [pid, ...childPids(pid)] : [pid];
  const total = () => pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const start = total();
  return () => total() - start;
}

/** `uptime`-style load averages. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

/**
 * Raises this process's open-file limit (soft and hard) so 10,000 sessions fit; children
 * (Dovecot, the gate process) inherit it. Needs root (CAP_SYS_RESOURCE) to raise the hard limit.
 * Returns the soft limit now in force.
 */
export function raiseFdLimit(want = 65536): number {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${want}:${want}`], { stdio: 'ignore' });
  } catch {
    /* keep what we have */
  }
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds the whole machine spent busy (all CPUs; /proc/stat, everything but idle and iowait). */
export function machineBusySeconds(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: guest time is already inside user.
    const busy = f.slice(0, 8).reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
    return busy / TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds of a process and everything below it: utime + stime + the reaped children's cutime +
 * cstime, over the live tree (Dovecot forks a process per login and its master reaps them).
 */
export function treeCpuSeconds(pid: number): number {
  const stats = allStats();
  const children = new Map<number, number[]>();
  for (const [p, x] of stats) children.set(Number(x[1]), [...(children.get(Number(x[1])) ?? []), p]);
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    const x = stats.get(p);
    if (x) total += (Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14])) / TICKS;
    stack.push(...(children.get(p) ?? []));
  }
  return total;
}
