/**
 * `npm run bench [-- --quick] [-- --json] [-- --only bulk,small,logins,hol,idle,smtp,pop3,scale]
 *  [-- --rounds N] [-- --profile DIR] [-- --out FILE] [-- --bcrypt-cost N] [-- --hash-workers N] [-- --hash-nice N] [-- --no-nginx] [-- --pool N]
 *  [-- --store sqlite|postgres] [-- --imaptest PATH] [-- --idle-many N]`
 *
 * Starts a private Dovecot (seeded mailbox) and Postfix, mailgate in its own process in front of
 * them, and measures the direct path and the mailgate path side by side. Progress goes to
 * stderr; the table (or JSON with --json) to stdout, and to --out FILE when given.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loginStorm } from './imap-load.js';
import { imaptestPhase } from './imaptest.js';
import { nginxMissing, startNginx } from './nginx.js';
import { bulkPhase, holPhase, idlePhase, loginPhase, pop3Phase, smallPhase, smtpPhase } from './phases.js';
import type { Ctx, Paths } from './rounds.js';
import { loadAverage, raiseFdLimit } from './proc.js';
import { jsonReport, markdownReport, type Report } from './report.js';
import { scalePhase, type ScaleWorld } from './scale.js';
import { startPostgres } from '../src/demo/postgres.js';
import {
  cleanupAll,
  dovecotMasterPid,
  gateConfigDoc,
  onCleanup,
  prepareGate,
  spawnGate,
  spawnLoginFloor,
  startMta,
  startWorld,
  USER,
  workDir,
  type GateProcess,
  type Mailboxes,
} from './testbed.js';

const root = new URL('..', import.meta.url).pathname;
let scaleWorld: ScaleWorld | null = null; // set in main(), once the testbed is up
const PHASES = {
  bulk: bulkPhase,
  small: smallPhase,
  logins: loginPhase,
  hol: holPhase,
  idle: idlePhase,
  smtp: smtpPhase,
  pop3: pop3Phase,
  scale: (ctx: Ctx) => scalePhase(scaleWorld!)(ctx),
} as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    only: { type: 'string' },
    rounds: { type: 'string' },
    profile: { type: 'string' },
    out: { type: 'string' },
    'bcrypt-cost': { type: 'string', default: '10' },
    // Default: mailgate's own default (auth.hash_workers: cores - 1), what the issue's bar is set against.
    'hash-workers': { type: 'string', default: String(Math.max(1, os.availableParallelism() - 1)) },
    'hash-nice': { type: 'string', default: '10' },
    'no-nginx': { type: 'boolean', default: false },
    store: { type: 'string', default: 'sqlite' },
    imaptest: { type: 'string' },
    pool: { type: 'string', default: '0' },
    // Idle sessions through `serve --workers N` (default 20,000 in full runs, 0 with --quick).
    'idle-many': { type: 'string' },
  },
});

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};
// --imaptest PATH adds Dovecot's imaptest as a last phase (it changes the INBOX the others read).
const phases: Record<string, (ctx: Ctx) => Promise<void>> = { ...PHASES };
if (args.imaptest) phases.imaptest = imaptestPhase(resolve(args.imaptest));
const only = (
  args.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? Object.keys(phases)
).sort((a, b) => Number(a === 'imaptest') - Number(b === 'imaptest'));
for (const p of only)
  if (!(p in phases)) {
    log(
      `unknown phase ${p} (phases: ${Object.keys(PHASES).join(', ')}${args.imaptest ? ', imaptest' : ', imaptest with --imaptest PATH'})`,
    );
    process.exit(2);
  }
const quick = args.quick ?? false;
const rounds = Number(args.rounds ?? (quick ? 1 : 5));
const bcryptCost = Number(args['bcrypt-cost']);
const hashWorkers = Number(args['hash-workers']);
const hashNice = Number(args['hash-nice']);
const pool = Number(args.pool);
if (args.store !== 'sqlite' && args.store !== 'postgres') {
  log('--store is sqlite or postgres');
  process.exit(2);
}

function sh(cmd: string, argv: string[]): string {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch {
    return 'unknown';
  }
}

function machine(): Record<string, string> {
  const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return {
    cpus: `${sh('nproc', [])} × ${cpu}`,
    memory: ((f) => `${f[1] ?? '?'} total, ${f[6] ?? '?'} available`)(sh('free', ['-h']).split('\n')[1]?.split(/\s+/) ?? []),
    kernel: os.release(),
    node: process.version,
    dovecot: sh('dovecot', ['--version']),
    postfix: sh('postconf', ['-dh', 'mail_version']),
  };
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping everything`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const loadAtStart = loadAverage();
  const fdLimit = raiseFdLimit();
  // The gate runs the shipped build (gate-process.ts imports dist/): compile the current sources.
  log('building dist/ (tsc -p tsconfig.build.json)');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  const boxes: Mailboxes = quick
    ? { big: { name: 'Big', count: 20, size: 256 * 1024 }, small: { name: 'Small', count: 200, size: 4 * 1024 } }
    : { big: { name: 'Big', count: 200, size: 256 * 1024 }, small: { name: 'Small', count: 2000, size: 4 * 1024 } };
  log(`starting Dovecot with ${boxes.big.count} × 256 KB + ${boxes.small.count} × 4 KB messages`);
  const dovecot = await startWorld(boxes);
  const postfix = only.includes('smtp') ? await startMta(dovecot) : null;
  const dir = workDir();
  const ca = readFileSync(dovecot.certs.caCert);
  const warmFile = join(dir, 'gate-warm.yaml');
  scaleWorld = { dovecot, dir, bcryptCost, hashWorkers, singleStore: args.store };
  // --store postgres: a private PostgreSQL (the testbed's) shared by the warm and the cold gate.
  let storeUrl: string | undefined;
  if (args.store === 'postgres') {
    const pgServer = await startPostgres();
    onCleanup(() => pgServer.stop());
    storeUrl = await pgServer.createDatabase('bench');
    log(`store: PostgreSQL on 127.0.0.1:${pgServer.port}`);
  }
  const passcode = await prepareGate(
    gateConfigDoc(dovecot, postfix, dir, { cacheTtl: '5m', bcryptCost, hashWorkers, hashNice, storeUrl, pool }),
    dir,
    warmFile,
    true,
  );
  if (!passcode) throw new Error('no passcode');
  log('starting mailgate (own process)');
  const gate = await spawnGate(warmFile);
  const alice = dovecot.users.find((u) => u.user === USER)!;
  const gatePathsOf = (g: GateProcess): Paths => {
    const plain = g.imap.find((a) => a.tls === 'none')!;
    const tls = g.imap.find((a) => a.tls === 'implicit')!;
    return {
      plain: { label: 'mailgate', ep: { port: plain.port, tls: false }, user: USER, secret: passcode, gatePid: g.pid },
      tls: { label: 'mailgate', ep: { port: tls.port, tls: true, ca }, user: USER, secret: passcode, gatePid: g.pid },
    };
  };
  let nginxInfo = args['no-nginx'] ? 'not measured (--no-nginx)' : (nginxMissing() ?? '');
  let nginx: Paths | null = null;
  if (!nginxInfo && only.some((p) => p === 'bulk' || p === 'small' || p === 'logins')) {
    log('starting nginx mail proxy (reference)');
    try {
      const ng = await startNginx(dovecot, dir);
      nginxInfo = `${ng.version}, worker_processes auto, auth_http answered by the bench process, upstream LOGIN with the main password`;
      const base = { label: 'nginx' as const, user: USER, secret: alice.password, gatePid: ng.pid, cpuTree: true };
      nginx = { plain: { ...base, ep: { port: ng.imapPort, tls: false } }, tls: { ...base, ep: { port: ng.imapsPort, tls: true, ca } } };
    } catch (e) {
      nginxInfo = `failed to start: ${(e as Error).message.split('\n')[0] ?? ''}`;
      log(`nginx: ${nginxInfo}`);
    }
  }
  let cold = null as { gate: GateProcess; paths: Paths } | null; // set lazily by coldGate()
  const profileDir = args.profile ? resolve(args.profile) : null;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const gateSmtp = gate.smtp?.find((a) => a.tls === 'none');
  const gatePop3 = gate.pop3.find((a) => a.tls === 'none');
  const ctx: Ctx = {
    quick,
    rounds,
    boxes,
    bcryptCost,
    hashWorkers,
    fdLimit,
    idleMany: Number(args['idle-many'] ?? (quick ? 0 : 20_000)),
    warmConfigFile: warmFile,
    workDir: dir,
    profileDir,
    log,
    rows: [],
    profiles: [],
    direct: {
      plain: { label: 'direct', ep: { port: dovecot.imapPort, tls: false }, user: USER, secret: alice.password, gatePid: null },
      tls: { label: 'direct', ep: { port: dovecot.imapsPort, tls: true, ca }, user: USER, secret: alice.password, gatePid: null },
    },
    gate,
    gatePaths: gatePathsOf(gate),
    dovecotPid: dovecotMasterPid(dovecot),
    nginx,
    async freshGate() {
      const g = await spawnGate(warmFile);
      const paths = gatePathsOf(g);
      await loginStorm(paths.plain, 1, 1, 10_000); // cache + code paths warm, as after any first login
      return { gate: g, paths };
    },
    async coldGate() {
      if (cold) return cold;
      const file = join(dir, 'gate-cold.yaml');
      await prepareGate(
        gateConfigDoc(dovecot, null, dir, { cacheTtl: '0s', bcryptCost, hashWorkers, hashNice, storeUrl, pool }),
        dir,
        file,
        false,
      );
      log('starting the cold mailgate (cache_ttl 0s)');
      const g = await spawnGate(file);
      cold = { gate: g, paths: gatePathsOf(g) };
      return cold;
    },
    async loginFloor() {
      const floor = await spawnLoginFloor(dovecot.imapPort, dovecot.master, dovecot.certs);
      // It checks no password: the main one is sent only so the client does what it does elsewhere.
      const base = { label: 'floor' as const, user: USER, secret: alice.password, gatePid: floor.pid };
      return {
        floor,
        paths: { plain: { ...base, ep: { port: floor.port, tls: false } }, tls: { ...base, ep: { port: floor.tlsPort!, tls: true, ca } } },
      };
    },
    pop3: { direct: { port: dovecot.pop3Port, tls: false }, gate: gatePop3 ? { port: gatePop3.port, tls: false } : null },
    smtp: postfix
      ? {
          direct: { port: postfix.submissionPort, tls: false },
          gate: gateSmtp ? { port: gateSmtp.port, tls: false } : null,
          unavailable: gate.smtpError ? `SMTP front not available: ${gate.smtpError}` : null,
          mainPassword: alice.password,
          passcode,
        }
      : null,
  };
  for (const p of only) {
    if (interrupted) return;
    log(`phase ${p}`);
    await phases[p]!(ctx);
    if (p === 'hol' || (p === 'logins' && !only.includes('hol'))) {
      await cold?.gate.stop();
      cold = null;
    }
  }
  const report: Report = {
    startedAt: started,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    mode: quick ? 'quick' : 'full',
    rounds,
    machine: { ...machine(), 'load at start (1/5/15 min)': loadAtStart, 'load at end (1/5/15 min)': loadAverage() },
    setup: {
      'open files limit (bench, Dovecot, gate)': fdLimit,
      'bcrypt cost': bcryptCost,
      'mailgate listeners':
        'plain (tls: none, policy.allow_plaintext_auth: true) and implicit TLS; upstream plain to Dovecot/Postfix on loopback',
      'mailgate auth': `sasl-proxy (Dovecot master user), trusted upstream (ID x-originating-ip per login); failure_delay 0s; hash_workers ${hashWorkers} at nice ${hashNice}`,
      'mailgate process': 'bench/gate-process.ts running dist/ (tsc output, built at start; own process, log level info into a file)',
      'Postfix delivery': 'virtual_transport = discard: (submission measured, not LMTP delivery)',
      'nginx mail proxy': nginxInfo || 'not needed by these phases',
      ...(only.includes('logins')
        ? {
            'bare Node login proxy (logins reference)':
              'bench/login-floor.ts in its own process: fixed greeting, LOGIN parsed, no password check, pipelined ID + AUTHENTICATE PLAIN master login as mailgate sends it, on(data)/write splice',
          }
        : {}),
    },
    rows: ctx.rows,
    profiles: ctx.profiles,
  };
  const text = args.json ? jsonReport(report) : markdownReport(report);
  process.stdout.write(`${text}\n`);
  if (args.out) writeFileSync(args.out, `${args.out.endsWith('.json') ? jsonReport(report) : markdownReport(report)}\n`);
}

const watchdog = setTimeout(() => {
  log('global time budget (60 min) exceeded');
  void cleanupAll().finally(() => process.exit(3));
}, 60 * 60_000);
watchdog.unref();
try {
  await main();
} catch (e) {
  if (!interrupted) log(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanupAll();
  // Sockets of the load generator may still hold the loop; everything we started is stopped.
  setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
}
