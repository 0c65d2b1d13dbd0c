/**
 * A private PostgreSQL for the tests and the bench, started like the Dovecot testbed: initdb into a
 * temp dir, its own port on 127.0.0.1, its unix socket inside the temp dir, fsync off. The system's
 * own cluster (pg_ctlcluster) is never touched. PostgreSQL refuses to run as root, so when the
 * tests run as root (CI) the server runs as the `postgres` system user the Debian package creates.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { killQuietly, pidAlive, registerExitCleanup, unregisterExitCleanup } from './processes.js';

export interface PostgresInstance {
  host: '127.0.0.1';
  port: number;
  dir: string;
  /** URL of the `postgres` maintenance database (superuser, trust auth on loopback). */
  url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** The server log so far. */
  log(): string;
  /** Stops the server (fast shutdown), keeping its data: clients see it go away. */
  halt(): Promise<void>;
  /** Starts it again on the same port after halt(). */
  resume(): Promise<void>;
  /** Fast shutdown, wait for the postmaster to exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL server's bin directory, or null. */
export function postgresBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (['initdb', 'pg_ctl', 'postgres'].every((b) => existsSync(path.join(bin, b)))) return bin;
  }
  return null;
}

/** uid/gid of the `postgres` system user, or null. */
export function postgresUser(): { uid: number; gid: number } | null {
  try {
    const [uid, gid] = ['-u', '-g'].map((f) =>
      Number(execFileSync('id', [f, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()),
    );
    return uid! > 0 ? { uid: uid!, gid: gid! } : null;
  } catch {
    return null;
  }
}

/** Runs a PostgreSQL tool, as the postgres user when we are root. Throws with its output on failure. */
function run(bin: string, args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  const r = asRoot
    ? spawnSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8' })
    : spawnSync(bin, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${path.basename(bin)} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** Starts a private PostgreSQL on a free loopback port. */
export async function startPostgres(): Promise<PostgresInstance> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install -y postgresql)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-postgres-'));
  const user = process.getuid?.() === 0 ? postgresUser() : null;
  if (process.getuid?.() === 0 && !user) throw new Error('running as root but there is no `postgres` user to run PostgreSQL as');
  if (user) chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const logFile = path.join(dir, 'postgres.log');
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const opts = [
      `-p ${port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${dir}'`,
      // Throw-away data: durability buys nothing here and costs seconds per test file.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    try {
      const start = () => run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', logFile, '-o', opts, '-w', '-t', '30', 'start']);
      start();
      return instance(dir, data, logFile, port, start);
    } catch (e) {
      lastError = e as Error;
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      if (!/already in use/i.test(log + lastError.message)) break;
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError ?? new Error('postgres testbed: failed to start');
}

function instance(dir: string, data: string, logFile: string, port: number, start: () => void): PostgresInstance {
  const readPid = () => Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let pid = readPid();
  // Immediate shutdown if the test runner dies without stopping us (pid: the current postmaster).
  const cleanup = registerExitCleanup(() => killQuietly(pid, 'SIGQUIT'));
  const shutdown = async () => {
    killQuietly(pid, 'SIGINT'); // fast shutdown: ends sessions, no waiting for clients
    const deadline = Date.now() + 15_000;
    while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (pidAlive(pid)) killQuietly(pid, 'SIGQUIT');
  };
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let stopped: Promise<void> | null = null;
  return {
    host: '127.0.0.1',
    port,
    dir,
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`postgres testbed: bad database name ${JSON.stringify(name)}`);
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    halt: shutdown,
    async resume() {
      start();
      pid = readPid();
    },
    stop() {
      stopped ??= (async () => {
        await shutdown();
        unregisterExitCleanup(cleanup);
        if (process.env.MAILGATE_KEEP_TESTBED !== '1') rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
