/**
 * A private, throw-away Dovecot 2.3 instance on 127.0.0.1 for interop tests, `mailgate demo` and
 * the benchmark. Everything (config, sockets, state, logs, mail) lives under one temp dir; it does
 * not touch or conflict with a system Dovecot (own base_dir/state_dir/instance_name).
 *
 * Must run as root: Dovecot's master binds the listeners, then the mail processes drop to the
 * `mail` system user (mail_uid/mail_gid), which owns DIR/mail and DIR/home.
 *
 * Note on auth penalties: Dovecot delays failed logins (auth_failure_delay, 2 s) and anvil adds a
 * per-IP penalty that grows with repeated failures (up to 15 s). Both land on the *connecting* IP,
 * i.e. 127.0.0.1 for everything in tests, unless the client is in login_trusted_networks and
 * forwards the real address with `ID ("x-originating-ip" ...)`. Nothing is tuned for that here on
 * purpose: tests that provoke many failed upstream logins will see those delays.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeCerts, type TestCerts } from './certs.js';
import { findExecutable } from './interop.js';
import { registerExitCleanup, unregisterExitCleanup, killQuietly } from './processes.js';
import { freePorts, waitForBanner, waitForPortsClosed } from './ports.js';

const execFileP = promisify(execFile);

export interface TestUser {
  user: string;
  password: string;
}

export interface DovecotOptions {
  /** Base dir; default: a fresh mkdtemp under os.tmpdir(). */
  dir?: string;
  /** Default: alice@example.com / 'alice-main-pw', bob@example.com / 'bob-main-pw'. */
  users?: TestUser[];
  /** Default { user: 'mailgate', password: random hex }. */
  master?: TestUser;
  /** login_trusted_networks, default ['127.0.0.1/32', '::1/128']. */
  trustedNetworks?: string[];
  /** Seeded before start as Maildir files (mailbox default INBOX; '/' or '.' separate levels). */
  messages?: Array<{ user: string; mailbox?: string; raw: string | Buffer }>;
  /** High-performance login processes and high limits for load tests. */
  tuned?: boolean;
  /**
   * How this Dovecot normalises user names, as providers configure it: `auth_username_format`
   * (e.g. '%Ln': lower-case, domain dropped — then `users` are bare names) and `auth_default_realm`
   * (a domain added to bare names). Default: neither (names are looked up as typed, '%u').
   */
  naming?: { usernameFormat?: string; defaultRealm?: string };
  /** auth_failure_delay in seconds (Dovecot's default: 2), e.g. to time failures in a short test. */
  authFailureDelaySecs?: number;
}

export interface DovecotInstance {
  host: '127.0.0.1';
  dir: string;
  /** Plain IMAP + STARTTLS. */
  imapPort: number;
  /** IMAP over implicit TLS. */
  imapsPort: number;
  /** Plain POP3 + STLS. */
  pop3Port: number;
  /** inet LMTP listener on 127.0.0.1 (Postfix delivers here). */
  lmtpPort: number;
  /** Dovecot auth client socket (mode 0666) for Postfix `smtpd_sasl_type = dovecot`. */
  authSocket: string;
  users: TestUser[];
  master: TestUser;
  certs: TestCerts;
  /** Path of the generated dovecot.conf. */
  configPath: string;
  /** Full text of Dovecot's log file so far (plus anything the master printed on stderr). */
  log(): string;
  /**
   * SIGTERM the master, wait until it and every listener is gone (about 1 s: Dovecot's master
   * waits for its children). A temp dir created by startDovecot is then removed (set
   * MAILGATE_KEEP_TESTBED=1 to keep it); log() still works. Idempotent.
   */
  stop(): Promise<void>;
}

export const DEFAULT_USERS: readonly TestUser[] = Object.freeze([
  { user: 'alice@example.com', password: 'alice-main-pw' },
  { user: 'bob@example.com', password: 'bob-main-pw' },
]);

/** Path to the `dovecot` binary if installed (/usr/sbin/dovecot or PATH), else null. */
export function dovecotBinary(): string | null {
  return findExecutable('dovecot', ['/usr/sbin/dovecot']);
}

function doveconfBinary(): string {
  return findExecutable('doveconf', ['/usr/bin/doveconf']) ?? 'doveconf';
}

/** uid/gid of a system user from /etc/passwd (no external command). */
function systemUser(name: string): { uid: number; gid: number } | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === name && f[2] !== undefined && f[3] !== undefined) return { uid: Number(f[2]), gid: Number(f[3]) };
    }
  } catch {
    /* fall through */
  }
  return null;
}

/** RFC 3501 modified UTF-7 for one mailbox name level. */
export function encodeMailboxUtf7(name: string): string {
  let out = '';
  let pending = '';
  const flush = (): void => {
    if (!pending) return;
    const buf = Buffer.alloc(pending.length * 2);
    for (let i = 0; i < pending.length; i++) buf.writeUInt16BE(pending.charCodeAt(i), i * 2);
    out += '&' + buf.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = '';
  };
  for (const ch of name) {
    const c = ch.codePointAt(0) ?? 0;
    if (c >= 0x20 && c <= 0x7e) {
      flush();
      out += ch === '&' ? '&-' : ch;
    } else {
      pending += ch; // UTF-16 code units, surrogate pairs included
    }
  }
  flush();
  return out;
}

/** Maildir++ folder (relative to the user's Maildir root) for a mailbox name. */
function maildirFolder(mailbox: string | undefined): string {
  if (mailbox === undefined || mailbox.toUpperCase() === 'INBOX') return '';
  const levels = mailbox.split(/[/.]/).filter(Boolean);
  if (levels.length === 0) return '';
  return '.' + levels.map(encodeMailboxUtf7).join('.');
}

const SAFE_PATH = /^[A-Za-z0-9_./@+,=-]+$/;
const SAFE_USER = /^[^\s:"\\*]+$/;

function assertSafePath(p: string): void {
  if (!SAFE_PATH.test(p)) throw new Error(`dovecot testbed: unsupported characters in path ${JSON.stringify(p)}`);
}

function assertSafeUser(u: string): void {
  // ':' is the passwd-file separator; '*' is auth_master_user_separator.
  if (!SAFE_USER.test(u)) throw new Error(`dovecot testbed: unsupported user name ${JSON.stringify(u)}`);
}

/**
 * passwd-file password field. `{PLAIN.b64}` keeps any password (spaces, quotes, ':', UTF-8)
 * intact in the ':'-separated file; Dovecot compares the decoded bytes.
 */
function passwordField(password: string): string {
  return `{PLAIN.b64}${Buffer.from(password, 'utf8').toString('base64')}`;
}

async function chownR(p: string, uid: number, gid: number): Promise<void> {
  await fs.chown(p, uid, gid);
  const st = await fs.lstat(p);
  if (!st.isDirectory()) return;
  for (const e of await fs.readdir(p)) await chownR(path.join(p, e), uid, gid);
}

let seedCounter = 0;

async function seedMessages(mailRoot: string, messages: NonNullable<DovecotOptions['messages']>): Promise<void> {
  for (const m of messages) {
    assertSafeUser(m.user);
    const folder = path.join(mailRoot, m.user, maildirFolder(m.mailbox));
    for (const sub of ['cur', 'new', 'tmp']) await fs.mkdir(path.join(folder, sub), { recursive: true });
    const raw = typeof m.raw === 'string' ? Buffer.from(m.raw.replace(/\r?\n/g, '\r\n'), 'utf8') : m.raw;
    const now = Date.now();
    const secs = Math.floor(now / 1000);
    const name = `${secs}.M${(now % 1000) * 1000}P${process.pid}Q${++seedCounter}.mailgate-testbed,S=${raw.length}:2,`;
    await fs.writeFile(path.join(folder, 'cur', name), raw);
  }
}

interface Layout {
  dir: string;
  conf: string;
  logFile: string;
  authSocket: string;
  mailRoot: string;
  homeRoot: string;
}

function buildConfig(
  l: Layout,
  p: { imap: number; imaps: number; pop3: number; lmtp: number },
  certs: TestCerts,
  mail: { uid: number; gid: number },
  trusted: string[],
  tuned: boolean,
  instanceName: string,
  naming: NonNullable<DovecotOptions['naming']>,
  authFailureDelaySecs: number | undefined,
): string {
  const maxUserIp = tuned ? 10000 : 100;
  const lines = [
    '# Generated by mailgate src/demo/dovecot.ts: a private throw-away instance.',
    `base_dir = ${l.dir}/run`,
    `state_dir = ${l.dir}/state`,
    `instance_name = ${instanceName}`,
    'protocols = imap pop3 lmtp',
    'listen = 127.0.0.1',
    '',
    '# Logs go to files only: no syslog.',
    `log_path = ${l.logFile}`,
    `info_log_path = ${l.logFile}`,
    `debug_log_path = ${l.logFile}`,
    'auth_verbose = yes',
    ...(authFailureDelaySecs !== undefined ? [`auth_failure_delay = ${authFailureDelaySecs} secs`] : []),
    'log_timestamp = "%Y-%m-%d %H:%M:%S "',
    '',
    'ssl = yes',
    `ssl_cert = <${certs.cert}`,
    `ssl_key = <${certs.key}`,
    'disable_plaintext_auth = no',
    'auth_mechanisms = plain login',
    'auth_master_user_separator = *',
    ...(naming.usernameFormat ? [`auth_username_format = ${naming.usernameFormat}`] : []),
    ...(naming.defaultRealm ? [`auth_default_realm = ${naming.defaultRealm}`] : []),
    `login_trusted_networks = ${trusted.join(' ')}`,
    'login_greeting = Dovecot (mailgate testbed) ready.',
    '',
    `mail_location = maildir:${l.mailRoot}/%u`,
    `mail_uid = ${mail.uid}`,
    `mail_gid = ${mail.gid}`,
    `first_valid_uid = ${Math.min(mail.uid, 500)}`,
    `first_valid_gid = ${Math.min(mail.gid, 1)}`,
    'shutdown_clients = yes',
    '# Nothing that reaches out: no DNS lookups of clients, no stats exporters, no replication.',
    'auth_use_winbind = no',
    '',
    '# Master users (LOGIN "user*master" pw, or SASL PLAIN authzid=user authcid=master) come first;',
    '# pass = yes then looks the target user up in the normal passdb (without its password).',
    'passdb {',
    '  driver = passwd-file',
    `  args = ${l.dir}/etc/master-users`,
    '  master = yes',
    '  pass = yes',
    '}',
    'passdb {',
    '  driver = passwd-file',
    `  args = ${l.dir}/etc/users`,
    '}',
    'userdb {',
    '  driver = passwd-file',
    `  args = ${l.dir}/etc/users`,
    '}',
    '',
    'protocol imap {',
    `  mail_max_userip_connections = ${maxUserIp}`,
    // COMPRESS=DEFLATE (RFC 4978), so tests prove it works through mailgate's splice.
    '  mail_plugins = $mail_plugins imap_zlib',
    '}',
    'protocol pop3 {',
    `  mail_max_userip_connections = ${maxUserIp}`,
    '}',
    'protocol lmtp {',
    '}',
    '',
    'service imap-login {',
    '  inet_listener imap {',
    '    address = 127.0.0.1',
    `    port = ${p.imap}`,
    '  }',
    '  inet_listener imaps {',
    '    address = 127.0.0.1',
    `    port = ${p.imaps}`,
    '    ssl = yes',
    '  }',
    // High-performance login mode: a few long-lived login processes, many clients each.
    ...(tuned
      ? ['  service_count = 0', '  process_min_avail = 2', '  process_limit = 8', '  client_limit = 1000', '  vsz_limit = 1G']
      : []),
    '}',
    'service pop3-login {',
    '  inet_listener pop3 {',
    '    address = 127.0.0.1',
    `    port = ${p.pop3}`,
    '  }',
    '  inet_listener pop3s {',
    '    port = 0',
    '  }',
    ...(tuned
      ? ['  service_count = 0', '  process_min_avail = 2', '  process_limit = 4', '  client_limit = 1000', '  vsz_limit = 1G']
      : []),
    '}',
    'service lmtp {',
    '  inet_listener lmtp {',
    '    address = 127.0.0.1',
    `    port = ${p.lmtp}`,
    '  }',
    '}',
    'service auth {',
    `  unix_listener ${l.authSocket} {`,
    '    mode = 0666',
    '  }',
    ...(tuned ? ['  client_limit = 10000'] : []),
    '}',
    ...(tuned
      ? [
          // One imap process per logged-in session (service_count = 1 for imap is the default).
          'default_process_limit = 1024',
          'default_client_limit = 10000',
          'service imap {',
          '  process_limit = 4096',
          '  process_min_avail = 2',
          '}',
          'service pop3 {',
          '  process_limit = 1024',
          '}',
          'service anvil {',
          '  client_limit = 10000',
          '}',
        ]
      : []),
    '',
  ];
  return lines.join('\n');
}

function tail(text: string, n = 40): string {
  return text.split('\n').slice(-n).join('\n');
}

/** Start a private Dovecot on fresh loopback ports; resolves once IMAP greets. */
export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotInstance> {
  const bin = dovecotBinary();
  if (!bin) throw new Error('dovecot is not installed (apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd)');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the Dovecot testbed must run as root (it drops mail access to the `mail` user)');
  }
  const mail = systemUser('mail') ?? { uid: 8, gid: 8 };

  const ownsDir = !opts.dir;
  const dir = opts.dir ? path.resolve(opts.dir) : await fs.mkdtemp(path.join(os.tmpdir(), 'mailgate-dovecot-'));
  assertSafePath(dir);
  await fs.mkdir(dir, { recursive: true });
  // Dovecot's unprivileged processes (dovecot, dovenull, mail) must traverse it.
  await fs.chmod(dir, 0o755);

  const users = (opts.users ?? DEFAULT_USERS).map((u) => ({ ...u }));
  const master = opts.master ? { ...opts.master } : { user: 'mailgate', password: randomBytes(16).toString('hex') };
  for (const u of [...users, master]) assertSafeUser(u.user);

  const l: Layout = {
    dir,
    conf: path.join(dir, 'etc', 'dovecot.conf'),
    logFile: path.join(dir, 'dovecot.log'),
    authSocket: path.join(dir, 'sasl', 'auth-client'),
    mailRoot: path.join(dir, 'mail'),
    homeRoot: path.join(dir, 'home'),
  };
  for (const d of ['etc', 'run', 'state', 'sasl', 'mail', 'home']) await fs.mkdir(path.join(dir, d), { recursive: true });
  await fs.chmod(path.join(dir, 'sasl'), 0o755);
  await fs.chmod(path.join(dir, 'etc'), 0o755);

  const certs = await makeCerts(path.join(dir, 'certs'));

  // Users: passwd-file "user:{PLAIN.b64}...:uid:gid:gecos:home:shell:extra" (uid/gid empty → mail_uid).
  const userLines = users.map((u) => `${u.user}:${passwordField(u.password)}::::${path.join(l.homeRoot, u.user)}::`);
  // passwd-file lookups happen in the auth process, which runs as $default_internal_user
  // (dovecot): the files must be readable by it. Test credentials only, so 0644 is fine.
  await fs.writeFile(path.join(dir, 'etc', 'users'), userLines.join('\n') + '\n');
  await fs.writeFile(path.join(dir, 'etc', 'master-users'), `${master.user}:${passwordField(master.password)}\n`);
  await fs.chmod(path.join(dir, 'etc', 'users'), 0o644);
  await fs.chmod(path.join(dir, 'etc', 'master-users'), 0o644);

  for (const u of users) {
    await fs.mkdir(path.join(l.mailRoot, u.user), { recursive: true });
    await fs.mkdir(path.join(l.homeRoot, u.user), { recursive: true });
  }
  if (opts.messages?.length) await seedMessages(l.mailRoot, opts.messages);
  await chownR(l.mailRoot, mail.uid, mail.gid);
  await chownR(l.homeRoot, mail.uid, mail.gid);

  const trusted = opts.trustedNetworks ?? ['127.0.0.1/32', '::1/128'];
  // Dovecot does not validate login_trusted_networks at startup: a bad entry makes every
  // imap-login process crash (SIGSEGV) instead. Check here.
  for (const n of trusted) {
    const [ip, bits, extra] = n.split('/');
    const family = net.isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= max);
    if (!family || !okBits || extra !== undefined) throw new Error(`dovecot testbed: invalid trusted network ${JSON.stringify(n)}`);
  }
  const instanceName = `mailgate-${path.basename(dir).replace(/^mailgate-dovecot-/, '')}`;

  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [imap, imaps, pop3, lmtp] = (await freePorts(4)) as [number, number, number, number];
    const ports = { imap, imaps, pop3, lmtp };
    await fs.writeFile(
      l.conf,
      buildConfig(l, ports, certs, mail, trusted, opts.tuned ?? false, instanceName, opts.naming ?? {}, opts.authFailureDelaySecs),
    );
    // Truncate the previous attempt's log so readiness errors are about this attempt.
    await fs.writeFile(l.logFile, '');
    try {
      return await launch(bin, l, ports, { users, master, certs }, ownsDir);
    } catch (err) {
      lastError = err as Error;
      if (!/Address already in use/i.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('dovecot testbed: failed to start');
}

async function launch(
  bin: string,
  l: Layout,
  ports: { imap: number; imaps: number; pop3: number; lmtp: number },
  who: { users: TestUser[]; master: TestUser; certs: TestCerts },
  ownsDir: boolean,
): Promise<DovecotInstance> {
  let stderr = '';
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const child: ChildProcess = spawn(bin, ['-F', '-c', l.conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (e) => {
      stderr += `spawn error: ${e.message}\n`;
      exited = { code: -1, signal: null };
      resolve();
    });
  });
  const collect = (d: Buffer): void => {
    if (stderr.length < 64 * 1024) stderr += d.toString('utf8');
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // A forgotten stop() must not keep the test runner alive; the exit hook still kills it.
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  const pid = child.pid ?? -1;
  const cleanupId = registerExitCleanup(() => {
    if (pid > 0) killQuietly(pid, 'SIGTERM');
  });

  let finalLog: string | null = null;
  const readLog = (): string => {
    if (finalLog !== null) return finalLog;
    let text = '';
    try {
      text = readFileSync(l.logFile, 'utf8');
    } catch {
      /* not yet */
    }
    return stderr ? `${text}${text && !text.endsWith('\n') ? '\n' : ''}[dovecot stderr]\n${stderr}` : text;
  };

  let stopping: Promise<void> | null = null;
  let removeDirOnStop = ownsDir && process.env.MAILGATE_KEEP_TESTBED !== '1';
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exited && pid > 0) {
        killQuietly(pid, 'SIGTERM');
        const killTimer = setTimeout(() => killQuietly(pid, 'SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(killTimer);
      }
      // Children (login processes) hold the listening sockets too; wait until they are gone.
      await waitForPortsClosed([ports.imap, ports.imaps, ports.pop3, ports.lmtp], '127.0.0.1', 10_000);
      unregisterExitCleanup(cleanupId);
      finalLog = readLog();
      // A temp dir we created is removed (log() keeps answering from memory), unless
      // MAILGATE_KEEP_TESTBED=1 asks to keep it for a post-mortem.
      if (removeDirOnStop) {
        await fs.rm(l.dir, { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    return stopping;
  };

  try {
    await waitForBanner(ports.imap, /^\* OK/, {
      timeoutMs: 10_000,
      abort: () => {
        if (exited) return `dovecot exited early (code ${String((exited as { code: number | null }).code)})`;
        const fatal = /^.*\b(Fatal|Panic): .*$/m.exec(readLog());
        return fatal ? `dovecot logged: ${fatal[0]}` : null;
      },
    });
  } catch (err) {
    let check = '';
    try {
      const r = await execFileP(doveconfBinary(), ['-c', l.conf, '-n'], { timeout: 10_000 });
      check = r.stderr.trim() || '(doveconf reported no errors)';
    } catch (e) {
      const ee = e as { stderr?: string; message: string };
      check = ee.stderr?.trim() || ee.message;
    }
    // Keep the dir: a retry reuses it, and a final failure leaves it for a post-mortem.
    removeDirOnStop = false;
    await stop().catch(() => undefined);
    throw new Error(
      `dovecot testbed failed to start: ${(err as Error).message}\n` +
        `--- doveconf -c ${l.conf} -n ---\n${check}\n--- log tail ---\n${tail(readLog())}`,
    );
  }

  return {
    host: '127.0.0.1',
    dir: l.dir,
    imapPort: ports.imap,
    imapsPort: ports.imaps,
    pop3Port: ports.pop3,
    lmtpPort: ports.lmtp,
    authSocket: l.authSocket,
    users: who.users,
    master: who.master,
    certs: who.certs,
    configPath: l.conf,
    log: readLog,
    stop,
  };
}
