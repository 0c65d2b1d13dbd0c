/**
 * A private redis-server for the tests, started like the PostgreSQL testbed: its own temp dir,
 * a free port on 127.0.0.1, no RDB snapshots; append-only file on, so a test can kill it and
 * start it again on the same port and data (a Redis restart). The system's Redis (6379) is never
 * touched.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findExecutable } from './interop.js';
import { freePort, isPortOpen } from './ports.js';
import { killQuietly, registerExitCleanup, unregisterExitCleanup } from './processes.js';

export interface RedisInstance {
  port: number;
  url: string;
  dir: string;
  /** SIGKILL: the outage a test provokes (the append-only file keeps what was written). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs (accepts connections, answers nothing). */
  pause(): void;
  resume(): void;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops it and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The redis-server binary, or null. */
export function redisServerBinary(): string | null {
  return findExecutable('redis-server', ['/usr/bin/redis-server']);
}

/** Starts a private redis-server on a free loopback port. */
export async function startRedis(): Promise<RedisInstance> {
  const bin = redisServerBinary();
  if (!bin) throw new Error('redis-server is not installed (apt-get install -y redis-server)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  let cleanup = -1;
  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes'];
    const c = spawn(bin, [...args, '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')], { stdio: 'ignore' });
    child = c;
    cleanup = registerExitCleanup(() => killQuietly(c.pid ?? 0, 'SIGKILL'));
    const deadline = Date.now() + 10_000;
    while (!(await isPortOpen(port))) {
      if (c.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${port} (log in ${dir})`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    killQuietly(c.pid ?? 0, signal);
    await exited;
    unregisterExitCleanup(cleanup);
    child = null;
  };
  await launch();
  let stopped: Promise<void> | null = null;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    kill: () => halt('SIGKILL'),
    pause: () => killQuietly((child as ChildProcess | null)?.pid ?? 0, 'SIGSTOP'),
    resume: () => killQuietly((child as ChildProcess | null)?.pid ?? 0, 'SIGCONT'),
    restart: launch,
    stop() {
      stopped ??= (async () => {
        await halt('SIGTERM');
        if (process.env.MAILGATE_KEEP_TESTBED !== '1') rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
