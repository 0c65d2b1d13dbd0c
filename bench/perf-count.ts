/**
 * Kernel-side counts for processes under test (`perf stat`, when installed and allowed): system
 * calls, event-loop waits (epoll_pwait: one per libuv loop turn that had nothing ready), socket
 * writes and context switches. Unlike CPU time these do not change with how busy the shared box
 * is, so they tell a second process's extra work apart from noise.
 */
import { spawn, spawnSync } from 'node:child_process';

const EVENTS = {
  syscalls: 'raw_syscalls:sys_enter',
  epollWaits: 'syscalls:sys_enter_epoll_pwait',
  writes: 'syscalls:sys_enter_write',
  writevs: 'syscalls:sys_enter_writev',
  reads: 'syscalls:sys_enter_read',
  switches: 'context-switches',
} as const;
export type PerfCounts = Record<keyof typeof EVENTS, number>;

let usable: boolean | null = null;

/** Whether `perf stat` can count the tracepoints here (once per run). */
export function perfUsable(): boolean {
  if (usable === null) {
    const r = spawnSync('perf', ['stat', '-x,', '-e', EVENTS.syscalls, '--', 'true'], { encoding: 'utf8' });
    usable = r.status === 0 && /^\d+,/m.test(r.stderr ?? '');
  }
  return usable;
}

/** Starts counting for `pids` (all their threads); the returned function stops and reads the counts. */
export async function perfCount(pids: number[]): Promise<() => Promise<PerfCounts>> {
  const names = Object.keys(EVENTS) as Array<keyof typeof EVENTS>;
  const child = spawn('perf', ['stat', '-x,', '-e', names.map((n) => EVENTS[n]).join(','), '-p', pids.join(',')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise((r) => setTimeout(r, 200)); // perf attaches to the threads
  return async () => {
    child.kill('SIGINT');
    await done;
    const out = Object.fromEntries(names.map((n) => [n, Number.NaN])) as PerfCounts;
    for (const line of err.split('\n')) {
      const [value, , event] = line.split(',');
      const name = names.find((n) => EVENTS[n] === event);
      if (name) out[name] = Number(value);
    }
    return out;
  };
}
