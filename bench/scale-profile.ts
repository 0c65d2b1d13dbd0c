/**
 * The scale phase's --profile pass: each path once more with the CPU profiler, socket and
 * PostgreSQL counters on in every gate process it reaches, and Redis' own command counts
 * (INFO commandstats) around it, so the cost of one login can be split between processes, the
 * shared state and the per-process overheads (issue 13: why two gates spend more CPU than one).
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { LoginResult } from './imap-load.js';
import { perfCount, perfUsable } from './perf-count.js';
import { topFunctions } from './profile.js';
import type { Ctx } from './rounds.js';
import type { GateProcess } from './testbed.js';

/** Redis' calls per command name, as `INFO commandstats` reports them. */
async function redisCalls(url: string): Promise<Map<string, number>> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const info = await r.info('commandstats');
    const out = new Map<string, number>();
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
    return out;
  } finally {
    r.disconnect();
  }
}

function perLogin(n: unknown, logins: number): string {
  return (Number(n) / Math.max(1, logins)).toFixed(2);
}

/** Runs `storm` once with every gate of `gates` profiled; records one profile entry per gate. */
export async function profileScalePath(
  ctx: Ctx,
  label: string,
  gates: GateProcess[],
  redisUrl: string | null,
  storm: () => Promise<LoginResult>,
): Promise<void> {
  if (!ctx.profileDir) return;
  if (perfUsable()) {
    // First without the V8 profiler (its sampling thread would add switches of its own).
    const stops = await Promise.all(gates.map((g) => perfCount([g.pid])));
    for (const g of gates) await g.control('gc-start');
    const r = await storm();
    for (const [i, stop] of stops.entries()) {
      const each = Object.entries(await stop()).map(([k, v]) => `${k} ${perLogin(v, r.ok)}`);
      const gc = Object.entries(await gates[i]!.control('gc-stop'))
        .filter(([k]) => k !== 'ok')
        .map(([k, v]) => `${k} ${(v as { n: number }).n} (${(v as { ms: number }).ms.toFixed(1)} ms)`);
      ctx.log(
        `perf stat, scale ${label}, gate ${i + 1} of ${gates.length} (per login of all ${r.ok}): ${each.join(', ')}; GCs: ${gc.join(', ')}`,
      );
    }
  }
  ctx.log(`profiling scale: ${label}`);
  const before = redisUrl ? await redisCalls(redisUrl) : null;
  for (const g of gates) for (const c of ['io-start', 'pg-start', 'prof-start']) await g.control(c);
  const r = await storm();
  const files = gates.map((_, i) => join(ctx.profileDir!, `gate-scale-${label}-${i + 1}.cpuprofile`));
  const per = await Promise.all(
    gates.map(async (g, i) => {
      await g.control(`prof-stop ${files[i]}`);
      return { io: await g.control('io-stop'), pg: await g.control('pg-stop') };
    }),
  );
  let redisNote = '';
  if (redisUrl && before) {
    const after = await redisCalls(redisUrl);
    const diff = [...after]
      .map(([k, n]) => [k, n - (before.get(k) ?? 0) - (k === 'info' ? 1 : 0)] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${perLogin(n, r.ok)}`);
    redisNote = `; Redis commands per login (all gates): ${diff.join(', ') || 'none'}`;
  }
  gates.forEach((_, i) => {
    const t = topFunctions(files[i]!, 12);
    const { io, pg } = per[i]!;
    const stmts = (pg.byText as Array<[string, number]> | undefined) ?? [];
    const top = stmts.slice(0, 6).map(([q, n]) => `"${q}" ${perLogin(n, r.ok)}`);
    ctx.profiles.push({
      label: `scale ${label}, gate ${i + 1} of ${gates.length}`,
      file: files[i]!,
      busyMs: t.busyMs,
      top: t.top,
      io:
        `${r.ok} logins in all, ${(t.busyMs / Math.max(1, r.ok)).toFixed(3)} ms main-thread busy per login (all logins); ` +
        `per login: socket writes ${perLogin(io.writes, r.ok)}, reads ${perLogin(io.reads, r.ok)}, ` +
        `PostgreSQL statements ${perLogin(pg.statements, r.ok)}${top.length ? ` (${top.join(', ')})` : ''}${i === 0 ? redisNote : ''}`,
    });
  });
}
