/**
 * mailgate unblock [IP]: lists the sources blocked for repeated login failures, or lifts one.
 * The serving process keeps blocks in memory (and, with `redis`, in Redis, shared by every
 * instance) and reports them in the audit log; lifting one is an `admin.unblock` audit event that
 * every serving process acts on within a second (at once with `redis`: it is pushed), and with
 * `redis` the shared block is also deleted here, so it is gone even if no instance is running.
 */
import { appendAudit } from '../core/audit.js';
import { isIP } from 'node:net';
import { openCore } from '../main.js';
import { sourceOf } from '../core/guard.js';
import { liftSharedBlock, sharedBlocks } from '../shared/index.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

export const UNBLOCK_HELP = `mailgate unblock                          list sources blocked for login failures
mailgate unblock IP                       lift the block of IP (an IPv6 address lifts its /64)`;

export async function unblockCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (values.help) {
    io.out(UNBLOCK_HELP);
    return 0;
  }
  const [ip] = positionals;
  if (ip !== undefined && isIP(ip) === 0 && !/^[0-9a-f:]+::\/64$/i.test(ip)) throw new CliError(`not an IP address: ${ip}`);
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const now = core.clock.now();
    if (ip === undefined) {
      const events = await core.store.queryAudit({ since: now - 24 * 3_600_000, limit: 100_000 });
      const blocks = new Map<string, { source: string; until: number; failures: unknown }>();
      for (const e of events) {
        const source = typeof e.detail?.source === 'string' ? e.detail.source : null;
        if (!source) continue;
        if (e.type === 'abuse.block') blocks.set(source, { source, until: Number(e.detail?.until), failures: e.detail?.failures });
        if (e.type === 'abuse.unblock' || e.type === 'admin.unblock') blocks.delete(source);
      }
      // Redis holds every instance's blocks, also those older than a day of audit log.
      const shared = core.shared ? await sharedBlocks(core.shared, now) : null;
      for (const b of shared ?? []) blocks.set(b.source, b);
      const rows = [...blocks.values()].filter((b) => b.until > now);
      io.out(
        values.json
          ? JSON.stringify(rows, null, 2)
          : table(
              rows.map((b) => ({ ...b, until: time(b.until) })),
              ['source', 'until', 'failures'],
            ),
      );
      return 0;
    }
    const source = ip.endsWith('/64') ? ip : sourceOf(ip);
    await appendAudit(core.store, core.clock, {
      ts: now,
      type: 'admin.unblock',
      ip: source,
      outcome: 'ok',
      detail: { source, actor: 'cli' },
    });
    if (core.shared) await liftSharedBlock(core.shared, source);
    io.out(values.json ? JSON.stringify({ source }) : `unblock of ${source} recorded; a running mailgate lifts it within a second`);
    return 0;
  } finally {
    await core.close();
  }
}
