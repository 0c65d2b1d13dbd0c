/**
 * The `scale` phase (issue 13's bar): warm plain logins/s through one SQLite gate (the bench's
 * own) against HAProxy (TCP, send-proxy-v2, round robin) in front of two gate processes that
 * share one private PostgreSQL and one private Redis — and against one of those two reached
 * directly, so the shared state's cost is told apart from HAProxy's extra hop.
 */
import type { DovecotInstance } from '../src/demo/dovecot.js';
import { haproxyBinary, startHaproxy } from '../src/demo/haproxy.js';
import { startPostgres } from '../src/demo/postgres.js';
import { redisServerBinary, startRedis } from '../src/demo/redis.js';
import { loginStorm, type LoginResult, type Path } from './imap-load.js';
import { cpuDetail, cpuMeter } from './proc.js';
import { add, rotated, type Ctx } from './rounds.js';
import { profileScalePath } from './scale-profile.js';
import { gateConfigDoc, onCleanup, prepareGate, spawnGate, USER, type GateProcess } from './testbed.js';

export interface ScaleWorld {
  dovecot: DovecotInstance;
  /** The bench's work dir: the gates share its secret_file, so one passcode is valid on both. */
  dir: string;
  bcryptCost: number;
  hashWorkers: number;
  /** The bench's own gate's store (--store): the baseline column. */
  singleStore: string;
}

const LABELS = ['single', 'pgRedis', 'hapOne', 'two'] as const;
type Label = (typeof LABELS)[number];

/**
 * The config of one shared-state instance: a direct plain listener (the one-instance row) and a
 * plain listener behind HAProxy (PROXY v2 from 127.0.0.1 only), PostgreSQL store, Redis.
 */
export function sharedGateDoc(w: ScaleWorld, storeUrl: string, redisUrl: string): Record<string, unknown> {
  const doc = gateConfigDoc(w.dovecot, null, w.dir, { cacheTtl: '5m', bcryptCost: w.bcryptCost, hashWorkers: w.hashWorkers, storeUrl });
  const imap = doc.imap as Record<string, unknown>;
  imap.listen = [
    { host: '127.0.0.1', port: 0, tls: 'none' },
    { host: '127.0.0.1', port: 0, tls: 'none', proxy_protocol: true, proxy_from: ['127.0.0.1/32'] },
  ];
  delete doc.pop3; // not measured here: one front less per process
  return { ...doc, redis: { url: redisUrl } };
}

async function startShared(ctx: Ctx, w: ScaleWorld): Promise<{ gates: GateProcess[]; secret: string; redisUrl: string }> {
  const pg = await startPostgres();
  onCleanup(() => pg.stop());
  const storeUrl = await pg.createDatabase('scale');
  const redis = await startRedis();
  onCleanup(() => redis.stop());
  ctx.log(`scale: PostgreSQL on 127.0.0.1:${pg.port}, Redis on ${redis.port}`);
  const doc = sharedGateDoc(w, storeUrl, redis.url);
  // Migrates the empty database and creates the passcode once; both gates then read it.
  const file = `${w.dir}/gate-shared.yaml`;
  const secret = await prepareGate(doc, w.dir, file, true);
  if (!secret) throw new Error('no passcode');
  const gates: GateProcess[] = [];
  for (let i = 0; i < 2; i++) gates.push(await spawnGate(file)); // one after the other: no migration race
  return { gates, secret, redisUrl: redis.url };
}

/** The phase, closed over the testbed it needs (like imaptestPhase). */
export function scalePhase(w: ScaleWorld): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    if (!haproxyBinary() || !redisServerBinary()) {
      ctx.log('scale: skipped (needs haproxy and redis-server: apt-get install -y haproxy redis-server)');
      return;
    }
    const C = ctx.quick ? 8 : 16; // same load as the logins phase
    const budget = ctx.quick ? 1000 : 5000;
    const { gates, secret, redisUrl } = await startShared(ctx, w);
    // Frontend imap1 (one instance behind HAProxy) tells the balancer's hop from the second process.
    const server = (g: GateProcess, i: number) => ({ name: `gate${i + 1}`, port: g.imap[1]!.port, checkPort: null });
    const hap = await startHaproxy([
      { name: 'imap', sendProxy: true, servers: gates.map(server) },
      { name: 'imap1', sendProxy: true, servers: [server(gates[0]!, 0)] },
    ]);
    onCleanup(() => hap.stop());
    const path = (port: number, gatePid: number): Path => ({ label: 'mailgate', ep: { port, tls: false }, user: USER, secret, gatePid });
    const paths: Record<Label, Path> = {
      single: ctx.gatePaths.plain,
      pgRedis: path(gates[0]!.imap[0]!.port, gates[0]!.pid),
      hapOne: path(hap.ports.imap1!, gates[0]!.pid),
      two: path(hap.ports.imap!, gates[0]!.pid),
    };
    // Fill every instance's verified-credential cache (round robin: 2 logins reach both).
    for (const l of LABELS) await loginStorm(paths[l], 1, l === 'two' ? 4 : 1, 10_000);
    // Then the same number of logins through every gate process before the rounds: the second
    // instance is reached by no other path, and its first round would otherwise run on code V8
    // has not optimised yet (more CPU per login: bench/RESULTS.md, issue 13), which a
    // long-running gate never does.
    const warm = ctx.quick ? 1000 : 3000;
    for (const l of ['single', 'two'] as const) await loginStorm(paths[l], C, l === 'two' ? 2 * warm : warm, 60_000);
    // CPU of the gate processes a path reaches, per login: tells extra work from waiting for a core.
    const reached: Record<Label, GateProcess[]> = { single: [ctx.gate], pgRedis: [gates[0]!], hapOne: [gates[0]!], two: gates };
    const res = await rotated(ctx, 'scale: warm logins plain', LABELS, async (l) => {
      const meters = reached[l].map((g) => cpuMeter(g.pid));
      const detail = () => reached[l].map((g) => cpuDetail(g.pid));
      const d0 = detail();
      const r = await loginStorm(paths[l], C, 5000, budget);
      const cpu = meters.reduce((a, m) => a + m(), 0);
      logSplit(ctx, l, d0, detail(), r.ok);
      return { ...r, cpuMs: (cpu * 1000) / Math.max(1, r.ok) };
    });
    report(ctx, C, w.singleStore, res);
    for (const l of LABELS)
      await profileScalePath(ctx, l, reached[l], l === 'single' ? null : redisUrl, () => loginStorm(paths[l], C, 5000, budget));
    await hap.stop();
    for (const g of gates) await g.stop();
  };
}

/** User/system CPU and context switches per login, summed over the gates a path reaches (a log line). */
function logSplit(ctx: Ctx, l: Label, before: ReturnType<typeof cpuDetail>[], after: ReturnType<typeof cpuDetail>[], ok: number): void {
  const sum = (k: keyof ReturnType<typeof cpuDetail>) => after.reduce((a, x, i) => a + x[k] - before[i]![k], 0) / Math.max(1, ok);
  const ms = (k: 'user' | 'sys') => (sum(k) * 1000).toFixed(2);
  ctx.log(
    `scale ${l}: per login user ${ms('user')} ms, system ${ms('sys')} ms, context switches ${sum('vcsw').toFixed(2)} voluntary, ${sum('ivcsw').toFixed(2)} preempted`,
  );
}

function report(ctx: Ctx, C: number, store: string, res: Record<Label, Array<LoginResult & { cpuMs: number }>>): void {
  const s = `scale (${C} clients, warm plain logins; "direct" column: the single ${store === 'sqlite' ? 'SQLite' : 'PostgreSQL'} gate)`;
  const err = LABELS.flatMap((l) => res[l]).find((x) => x.firstError)?.firstError;
  const variants = [
    { l: 'two', name: 'HAProxy + 2 instances (PostgreSQL + Redis)', target: true },
    { l: 'hapOne', name: 'HAProxy + 1 instance (PostgreSQL + Redis)', target: false },
    { l: 'pgRedis', name: '1 instance on PostgreSQL + Redis, no HAProxy', target: false },
  ] as const;
  for (const v of variants) {
    const d = res.single;
    const m = res[v.l];
    add(
      ctx,
      {
        section: s,
        metric: `${v.name}: logins/s`,
        unit: '/s',
        compare: 'ratio',
        target: v.target ? '≥ 0.8x' : undefined,
        note: err ? `errors: ${err}` : undefined,
        d: d.map((x) => x.perS),
        m: m.map((x) => x.perS),
      },
      v.target ? (a, b) => b / a >= 0.8 : undefined,
    );
    add(ctx, {
      section: s,
      metric: `${v.name}: gate CPU per login`,
      unit: 'ms',
      compare: 'delta',
      d: d.map((x) => x.cpuMs),
      m: m.map((x) => x.cpuMs),
    });
    for (const q of ['p50', 'p99'] as const)
      add(ctx, {
        section: s,
        metric: `${v.name}: ${q}`,
        unit: 'ms',
        compare: 'delta',
        d: d.map((x) => x.lat[q]),
        m: m.map((x) => x.lat[q]),
      });
  }
}
