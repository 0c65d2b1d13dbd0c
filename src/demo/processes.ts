/**
 * Process bookkeeping shared by the private servers' launchers (Dovecot, Postfix, Cyrus,
 * PostgreSQL): every started server is killed if the test process or the demo exits abruptly.
 */
// ---------------------------------------------------------------------------------------------
import { readFileSync } from 'node:fs';

// Safety net: daemons started by the testbed must not outlive the test runner.

type Killer = () => void;
const killers = new Map<number, Killer>();
let exitHookInstalled = false;
let nextId = 1;

function runExitCleanups(): void {
  for (const k of killers.values()) {
    try {
      k();
    } catch {
      /* best effort */
    }
  }
  killers.clear();
}

/**
 * Register a synchronous cleanup to run from process 'exit' (e.g. SIGTERM a daemon's master pid).
 * Returns a handle for `unregisterExitCleanup` once the daemon was stopped normally.
 */
export function registerExitCleanup(fn: Killer): number {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', runExitCleanups);
    // 'exit' does not fire when the process dies of a signal (a test runner terminating its
    // workers, Ctrl-C). Clean up then too; if nobody else handles the signal, re-raise it so the
    // default action (terminate) still happens.
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const onSignal = (): void => {
        runExitCleanups();
        if (process.listenerCount(sig) === 1) {
          process.removeListener(sig, onSignal);
          process.kill(process.pid, sig);
        }
      };
      process.on(sig, onSignal);
    }
  }
  const id = nextId++;
  killers.set(id, fn);
  return id;
}

export function unregisterExitCleanup(id: number): void {
  killers.delete(id);
}

/** Send `signal` to `pid`, ignoring "no such process". */
export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGTERM'): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Is `pid` alive? A zombie (exited, not yet reaped: daemons are re-parented to pid 1, which may
 * reap slowly in containers) counts as dead.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs: trust kill(0)
  }
}
