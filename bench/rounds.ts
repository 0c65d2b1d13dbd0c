/**
 * What every phase shares: the context (paths, gates, options), running the paths in rotating
 * order for several rounds, turning per-round values into rows (medians), and the optional
 * profiled extra pass.
 */
import { join } from 'node:path';
import type { Endpoint } from './imap-client.js';
import type { Path } from './imap-load.js';
import { topFunctions } from './profile.js';
import type { Report, Row } from './report.js';
import { median } from './stats.js';
import type { GateProcess, LoginFloor, Mailboxes } from './testbed.js';

export interface Paths {
  plain: Path;
  tls: Path;
}

export interface Ctx {
  quick: boolean;
  rounds: number;
  boxes: Mailboxes;
  direct: Paths;
  gate: GateProcess;
  gatePaths: Paths;
  /** Dovecot's master process: its tree's CPU per login, direct and through mailgate. */
  dovecotPid: number;
  /** nginx's mail proxy in front of the same Dovecot, when installed. */
  nginx: Paths | null;
  /** A new gate process like `gate` (cache warmed with one login): memory measured from a clean start. */
  freshGate(): Promise<{ gate: GateProcess; paths: Paths }>;
  /** The gate with the verified-credential cache off (cache_ttl 0s): every login runs bcrypt. */
  coldGate(): Promise<{ gate: GateProcess; paths: Paths }>;
  /** A new bare Node login proxy (`login-floor.ts`) in front of Dovecot: the logins phase's reference; the caller stops it. */
  loginFloor(): Promise<{ floor: LoginFloor; paths: Paths }>;
  bcryptCost: number;
  hashWorkers: number;
  /** Open-files limit of the bench and its children (the gate needs 2 per proxied session). */
  fdLimit: number;
  /** Idle TLS sessions to hold through `mailgate serve` with several workers (0: skip; idle-many.ts). */
  idleMany: number;
  /** The warm gate's config file and the bench's work directory (for gates started by a phase). */
  warmConfigFile: string;
  workDir: string;
  /** POP3 RETR: Dovecot's POP3 port and the gate's plain POP3 listener (user POP3_USER, passthrough). */
  pop3: { direct: Endpoint; gate: Endpoint | null };
  smtp: { direct: Endpoint; gate: Endpoint | null; unavailable: string | null; mainPassword: string; passcode: string } | null;
  profileDir: string | null;
  log(msg: string): void;
  rows: Row[];
  profiles: NonNullable<Report['profiles']>;
}

export type Which = 'direct' | 'mailgate';
export type Proxy = Which | 'nginx';

/** Runs `fn` for every label in every round, rotating the order so drift hits all alike. */
export async function rotated<L extends string, T>(
  ctx: Ctx,
  what: string,
  labels: readonly L[],
  fn: (which: L) => Promise<T>,
): Promise<Record<L, T[]>> {
  const out = Object.fromEntries(labels.map((l) => [l, [] as T[]])) as Record<L, T[]>;
  for (let r = 0; r < ctx.rounds; r++) {
    for (let i = 0; i < labels.length; i++) {
      const w = labels[(i + r) % labels.length]!;
      ctx.log(`${what}: round ${r + 1}/${ctx.rounds}, ${w}`);
      out[w].push(await fn(w));
    }
  }
  return out;
}

/** Both paths in every round, alternating which goes first. */
export function paired<T>(ctx: Ctx, what: string, fn: (which: Which) => Promise<T>): Promise<Record<Which, T[]>> {
  return rotated(ctx, what, ['direct', 'mailgate'] as const, fn);
}

/** direct, mailgate and (when there) nginx, as a partial record for the missing nginx. */
export async function withNginx<T>(
  ctx: Ctx,
  what: string,
  fn: (which: Proxy) => Promise<T>,
): Promise<Record<Which, T[]> & { nginx?: T[] }> {
  return ctx.nginx ? rotated(ctx, what, ['direct', 'mailgate', 'nginx'] as const, fn) : paired(ctx, what, fn);
}

export function pathOf(ctx: Ctx, w: Proxy, tls: boolean): Path {
  const p = w === 'direct' ? ctx.direct : w === 'mailgate' ? ctx.gatePaths : ctx.nginx;
  if (!p) throw new Error(`no ${w} path`);
  return tls ? p.tls : p.plain;
}

export type RowInput = Omit<Row, 'direct' | 'mailgate' | 'nginx' | 'rounds'> & {
  d: number[] | null;
  m: number[] | null;
  n?: number[] | undefined;
};

/** Adds a row of medians; `pass` decides the target on (direct, mailgate). */
export function add(ctx: Ctx, r: RowInput, pass?: (direct: number, gate: number) => boolean): void {
  const direct = r.d ? median(r.d) : null;
  const mailgate = r.m ? median(r.m) : null;
  const { d, m, n, ...rest } = r;
  const row: Row = { ...rest, direct, mailgate, rounds: { direct: d ?? [], mailgate: m ?? [], ...(n ? { nginx: n } : {}) } };
  if (n) row.nginx = median(n);
  if (pass) row.pass = mailgate !== null && Number.isFinite(mailgate) ? pass(direct ?? Number.NaN, mailgate) : null;
  ctx.rows.push(row);
}

/** Values of one field across rounds (NaN where a round has none). */
export function col<T>(xs: readonly T[] | undefined, f: (x: T) => number | undefined): number[] | undefined {
  return xs?.map((x) => f(x) ?? Number.NaN);
}

/**
 * With --profile: runs `fn` once more with the gate's CPU profiler and I/O counters on, and
 * records the hottest functions and the average read/write sizes.
 */
export async function profiled<T>(
  ctx: Ctx,
  gate: Pick<GateProcess, 'control'>,
  label: string,
  fn: () => Promise<T>,
  describe: (r: T) => string,
): Promise<void> {
  if (!ctx.profileDir) return;
  const file = join(ctx.profileDir, `gate-${label.replace(/\W+/g, '-')}.cpuprofile`);
  ctx.log(`profiling the gate: ${label}`);
  await gate.control('io-start');
  await gate.control('prof-start');
  const r = await fn();
  await gate.control(`prof-stop ${file}`);
  const io = await gate.control('io-stop');
  const t = topFunctions(file, 12);
  const avg = (bytes: unknown, n: unknown) => `${(Number(bytes) / Math.max(1, Number(n)) / 1024).toFixed(1)} KB`;
  ctx.profiles.push({
    label,
    file,
    busyMs: t.busyMs,
    top: t.top,
    io: `${describe(r)}; socket reads ${String(io.reads)} (avg ${avg(io.readBytes, io.reads)}), writes ${String(io.writes)} (avg ${avg(io.writeBytes, io.writes)}, ${String(io.writevs)} writev)`,
  });
}
