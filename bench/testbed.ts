/**
 * The benchmark's private world: a tuned Dovecot with a seeded mailbox, a Postfix that accepts
 * and discards, passcodes, and mailgate in its own process (`gate-process.ts`). Everything here
 * is registered for cleanup, which also runs on SIGINT/SIGTERM.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { stringify } from 'yaml';
import { buildConfig } from '../src/config/load.js';
import { openCore } from '../src/main.js';
import { DEFAULT_USERS, startDovecot, type DovecotInstance } from '../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../src/demo/postfix.js';
import { waitForBanner } from '../src/demo/ports.js';

export const USER = 'alice@example.com';
export const RCPT = 'bob@example.com';
/** The POP3 phase's user: not enforced (its logins pass through), its INBOX holds the big box's messages. */
export const POP3_USER = { user: 'carol@example.com', password: 'carol-main-pw' };

// ---------------------------------------------------------------------------------------------
// Cleanup: every process the bench starts is stopped on the way out, also on Ctrl-C.
const cleanups: Array<() => Promise<void> | void> = [];
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.unshift(fn);
}
export async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.shift()!();
    } catch {
      /* best effort */
    }
  }
}

// ---------------------------------------------------------------------------------------------
/** A message of about `size` bytes: headers and 76-column text lines (no line starts with "."). */
export function makeMessage(size: number, n: number): Buffer {
  const head =
    `From: Bench <alice@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: bench message ${n}\r\n` +
    `Message-ID: <bench-${n}-${randomBytes(6).toString('hex')}@example.com>\r\nDate: Thu, 27 Nov 2025 10:00:00 +0000\r\n` +
    'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n';
  const line = `${randomBytes(57).toString('base64')}\r\n`; // 78 bytes, base64 never starts with "."
  const body = line.repeat(Math.max(1, Math.ceil((size - head.length) / line.length)));
  return Buffer.from(head + body, 'latin1');
}

export interface Mailboxes {
  big: { name: string; count: number; size: number };
  small: { name: string; count: number; size: number };
}

/**
 * Dovecot settings on top of the testbed's `tuned` profile for 10,000 idle sessions:
 * imap processes are reused (service_count 0) and each serves many clients (otherwise one
 * process is forked per login and 10,000 sessions need 10,000 processes), a per-user+IP
 * connection limit above the session count (everything comes from 127.0.0.1), and a larger vsz
 * per process. The fd limit comes from this process, which Dovecot inherits.
 */
const DOVECOT_EXTRA = `
# --- bench/testbed.ts: limits for 10,000 concurrent sessions ---
service imap {
  service_count = 0
  client_limit = 100
  process_limit = 1024
  vsz_limit = 1G
}
service imap-login {
  process_limit = 256
}
protocol imap {
  mail_max_userip_connections = 30000
}
`;

export async function startWorld(boxes: Mailboxes): Promise<DovecotInstance> {
  const messages: Array<{ user: string; mailbox: string; raw: Buffer }> = [];
  for (let i = 0; i < boxes.big.count; i++) messages.push({ user: USER, mailbox: boxes.big.name, raw: makeMessage(boxes.big.size, i) });
  for (let i = 0; i < boxes.small.count; i++)
    messages.push({ user: USER, mailbox: boxes.small.name, raw: makeMessage(boxes.small.size, i) });
  messages.push({ user: USER, mailbox: 'INBOX', raw: makeMessage(2048, 0) });
  // POP3 sees only the INBOX: a user of its own keeps the IMAP phases' INBOX as it was.
  for (let i = 0; i < boxes.big.count; i++) messages.push({ user: POP3_USER.user, mailbox: 'INBOX', raw: makeMessage(boxes.big.size, i) });
  const dovecot = await startDovecot({ messages, tuned: true, users: [...DEFAULT_USERS, POP3_USER] });
  onCleanup(() => dovecot.stop());
  appendFileSync(dovecot.configPath, DOVECOT_EXTRA);
  process.kill(dovecotMasterPid(dovecot), 'SIGHUP'); // reload: the new service limits apply to new processes
  await new Promise((r) => setTimeout(r, 1000));
  await waitForBanner(dovecot.imapPort, /^\* OK/, { timeoutMs: 10_000 });
  return dovecot;
}

/** The pid of the testbed Dovecot's master process (its CPU is counted over the whole tree under it). */
export function dovecotMasterPid(dovecot: DovecotInstance): number {
  return Number(readFileSync(join(dovecot.dir, 'run', 'master.pid'), 'utf8').trim());
}

/**
 * Postfix accepting submissions like the testbed's, but with delivery switched to `discard:` so a
 * queue of thousands of delivered messages does not eat CPU in later rounds and phases: the bench
 * measures submission (AUTH, transaction, queue file written), not LMTP delivery.
 */
export async function startMta(dovecot: DovecotInstance): Promise<PostfixInstance> {
  const postfix = await startPostfix({ dovecot });
  onCleanup(() => postfix.stop());
  execFileSync('postconf', ['-c', postfix.configDir, '-e', 'virtual_transport = discard:bench'], { stdio: 'ignore' });
  execFileSync('postfix', ['-c', postfix.configDir, 'reload'], { stdio: 'ignore' });
  await waitForBanner(postfix.submissionPort, /^220 /, { timeoutMs: 10_000 });
  return postfix;
}

// ---------------------------------------------------------------------------------------------
export interface GateOptions {
  cacheTtl: string;
  bcryptCost: number;
  hashWorkers: number;
  /** auth.hash_nice; mailgate's default (10) when omitted. */
  hashNice?: number;
  /** A PostgreSQL store (npm run bench -- --store postgres) instead of the sqlite file in dir. */
  storeUrl?: string;
  /** imap/smtp.upstream.pool.size (npm run bench -- --pool N); 0: no pool. */
  pool?: number;
}

/** The config document (YAML keys as an admin writes them) for a gate in front of the testbed. */
export function gateConfigDoc(
  dovecot: DovecotInstance,
  postfix: PostfixInstance | null,
  dir: string,
  o: GateOptions,
): Record<string, unknown> {
  const listen = [
    { host: '127.0.0.1', port: 0, tls: 'none' },
    { host: '127.0.0.1', port: 0, tls: 'implicit' },
  ];
  return {
    store: o.storeUrl ? { postgres: { url: o.storeUrl } } : { sqlite: join(dir, 'mailgate.db') },
    secret_file: join(dir, 'secret.key'),
    tls: { cert: dovecot.certs.cert, key: dovecot.certs.key },
    imap: {
      listen,
      upstream: {
        host: '127.0.0.1',
        port: dovecot.imapPort,
        tls: 'none',
        trusted: true,
        connect_timeout: '10s',
        auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password },
        pool: { size: o.pool ?? 0 },
      },
    },
    pop3: {
      listen,
      upstream: {
        host: '127.0.0.1',
        port: dovecot.pop3Port,
        tls: 'none',
        trusted: true,
        connect_timeout: '10s',
        auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password },
      },
    },
    ...(postfix
      ? {
          smtp: {
            listen,
            upstream: {
              host: '127.0.0.1',
              port: postfix.submissionPort,
              tls: 'none',
              trusted: true,
              connect_timeout: '10s',
              auth: { method: 'xclient' },
              pool: { size: o.pool ?? 0 },
            },
          },
        }
      : {}),
    policy: { enforce: [USER], allow_plaintext_auth: true },
    auth: {
      bcrypt_cost: o.bcryptCost,
      hash_workers: o.hashWorkers,
      hash_nice: o.hashNice ?? 10,
      cache_ttl: o.cacheTtl,
      failure_delay: '0s',
    },
    // Every benchmark client comes from 127.0.0.1: lift the per-address pre-login cap.
    limits: { idle_timeout: '10m', max_prelogin_per_ip: 100_000, max_connections: 30_000 },
    log: { level: 'info' }, // mailgate's default: what a login costs includes its log lines
  };
}

/** Writes the config file; creates a passcode for USER once per store. */
export async function prepareGate(doc: Record<string, unknown>, _dir: string, file: string, withPasscode: boolean): Promise<string | null> {
  writeFileSync(file, stringify(doc));
  if (!withPasscode) return null;
  const core = await openCore(buildConfig(doc, file), { hashWorkers: 1 });
  try {
    return (await core.manager.createPasscode(USER, { name: 'bench', scopes: ['imap', 'smtp'] })).passcode;
  } finally {
    await core.close();
  }
}

export interface GateAddr {
  host: string;
  port: number;
  tls: 'none' | 'starttls' | 'implicit';
}
export interface GateProcess {
  pid: number;
  imap: GateAddr[];
  smtp: GateAddr[] | null;
  pop3: GateAddr[];
  smtpError: string | null;
  /** Sends a control line (gc, prof-start, prof-stop FILE, heap FILE) and waits for its answer. */
  control(line: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export function workDir(): string {
  return mkdtempSync(join(tmpdir(), 'mailgate-bench-'));
}

/** A helper process of ours that announces itself with one JSON line and answers control lines. */
interface Helper {
  hello: Record<string, unknown>;
  control(line: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function spawnHelper(script: string, args: string[], nodeFlags: string[] = [], env?: NodeJS.ProcessEnv): Promise<Helper> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeFlags, '--import', 'tsx', new URL(script, import.meta.url).pathname, ...args],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      cwd: new URL('..', import.meta.url).pathname,
      env: env ? { ...process.env, ...env } : undefined,
    },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const lines: Interface = createInterface({ input: child.stdout! });
  const queue: Array<(l: string) => void> = [];
  // Replies are JSON lines; anything else (V8's --trace-opt/--trace-deopt print to stdout) goes to
  // a file in the temp directory, so tracing flags can be given through MAILGATE_BENCH_NODE_FLAGS.
  const traceFile = join(tmpdir(), `mailgate-bench-${script.replace(/\W+/g, '')}-${Date.now()}.stdout`);
  lines.on('line', (l) => (l.startsWith('{') ? queue.shift()?.(l) : appendFileSync(traceFile, `${l}\n`)));
  const next = (timeoutMs: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${script} did not answer`)), timeoutMs);
      queue.push((l) => {
        clearTimeout(t);
        try {
          resolve(JSON.parse(l) as Record<string, unknown>);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
    })());
  onCleanup(stop);
  const hello = await Promise.race([
    next(60_000),
    exited.then(() => {
      throw new Error(`${script} exited at start`);
    }),
  ]);
  return {
    hello,
    control: (line, timeoutMs = 60_000) => {
      const p = next(timeoutMs);
      child.stdin!.write(`${line}\n`);
      return p;
    },
    stop,
  };
}

/** Spawns `gate-process.ts FILE` and waits for its ports. */
/** `env`: extra environment for the gate, e.g. MAILGATE_BENCH_FROM for another build (login-ab.ts). */
export async function spawnGate(file: string, env?: NodeJS.ProcessEnv): Promise<GateProcess> {
  const extra = process.env.MAILGATE_BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? [];
  const h = await spawnHelper('./gate-process.ts', [file], ['--expose-gc', ...extra], env);
  return {
    pid: h.hello.pid as number,
    imap: h.hello.imap as GateAddr[],
    smtp: h.hello.smtp as GateAddr[] | null,
    pop3: (h.hello.pop3 ?? []) as GateAddr[],
    smtpError: h.hello.smtpError as string | null,
    control: h.control,
    stop: h.stop,
  };
}

/** Spawns the reference proxy (`pipe-proxy.ts`) in front of `upstreamPort`. */
export async function spawnPipeProxy(upstreamPort: number): Promise<{ pid: number; port: number; stop(): Promise<void> }> {
  const h = await spawnHelper('./pipe-proxy.ts', [String(upstreamPort)]);
  return { pid: h.hello.pid as number, port: h.hello.port as number, stop: h.stop };
}

export interface LoginFloor {
  pid: number;
  port: number;
  /** Implicit TLS (with the certificate given), or null. */
  tlsPort: number | null;
  control: GateProcess['control'];
  stop(): Promise<void>;
}

/**
 * Spawns the logins phase's reference proxy (`login-floor.ts`) in front of Dovecot's plain IMAP
 * port, logging users in with the master credentials (the password in its environment).
 */
export async function spawnLoginFloor(
  upstreamPort: number,
  master: { user: string; password: string },
  certs?: { cert: string; key: string },
  splice: 'data' | 'pipe' = 'data',
): Promise<LoginFloor> {
  const args = [String(upstreamPort), master.user, '--splice', splice, ...(certs ? ['--cert', certs.cert, '--key', certs.key] : [])];
  const h = await spawnHelper('./login-floor.ts', args, [], { LOGIN_FLOOR_MASTER_PASS: master.password });
  return {
    pid: h.hello.pid as number,
    port: h.hello.port as number,
    tlsPort: h.hello.tlsPort as number | null,
    control: h.control,
    stop: h.stop,
  };
}
