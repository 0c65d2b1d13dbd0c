/** mailgate audit [--user U] [--type T] [--since 1h|ISO] [--limit N] [--follow] [--json] */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseDuration } from '../config/load.js';
import type { Identity } from '../core/identity.js';
import { openCore } from '../main.js';
import type { AuditEvent, AuditQuery } from '../store/types.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

export const AUDIT_HELP = `mailgate audit [--user USER] [--type TYPE] [--since 1h|2025-01-31] [--limit N] [--follow]
                                           the audit log, oldest first (default: the last 50 events);
                                           --follow keeps printing new events until Ctrl-C`;

const POLL_MS = 1_000;

function detailText(d: Record<string, unknown> | null): string {
  if (!d) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

function rows(events: AuditEvent[]): Array<Record<string, unknown>> {
  return events.map((e) => ({ ...e, time: time(e.ts), user: e.username, passcode: e.passcodeId, detail: detailText(e.detail) }));
}

const COLUMNS = ['id', 'time', 'type', 'user', 'outcome', 'reason', 'protocol', 'ip', 'passcode', 'detail'];

function buildQuery(values: { user?: string; type?: string; since?: string; limit?: string }, now: number, identity: Identity): AuditQuery {
  const q: AuditQuery = { limit: 50 };
  if (values.user !== undefined) {
    const k = identity.canonical(values.user);
    if (!k) throw new CliError(`--user: not a valid account name: ${JSON.stringify(values.user)}`);
    q.username = k;
  }
  if (values.type !== undefined) q.type = values.type;
  if (values.since !== undefined) {
    const d = parseDuration(values.since);
    const at = d !== null ? now - d : Date.parse(values.since);
    if (!Number.isFinite(at))
      throw new CliError(
        `--since takes a duration back from now (30m, 24h, 7d) or a date (2025-01-31, 2025-01-31T12:00Z); got ${values.since}`,
      );
    q.since = at;
  }
  if (values.limit !== undefined) {
    if (!/^\d+$/.test(values.limit) || Number(values.limit) < 1) throw new CliError(`--limit takes a positive number; got ${values.limit}`);
    q.limit = Number(values.limit);
  }
  return q;
}

/** `opts.signal` stops --follow (Ctrl-C does by default). */
export async function auditCommand(argv: string[], io: Io, opts: { signal?: AbortSignal; pollMs?: number } = {}): Promise<number> {
  const { values } = parse(argv, {
    user: { type: 'string', short: 'u' },
    type: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    follow: { type: 'boolean', short: 'f', default: false },
  });
  if (values.help) {
    io.out(AUDIT_HELP);
    return 0;
  }
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const query = buildQuery(values, core.clock.now(), core.identity);
    const first = await core.store.queryAudit(query);
    if (!values.follow) {
      io.out(values.json ? JSON.stringify(first, null, 2) : table(rows(first), COLUMNS));
      return 0;
    }
    // Following: one line per event (JSON lines with --json), as they arrive.
    const print = (events: AuditEvent[]) => {
      for (const e of events) io.out(values.json ? JSON.stringify(e) : table(rows([e]), COLUMNS).split('\n')[1]!);
    };
    print(first);
    let last = first.at(-1)?.id ?? (await core.store.queryAudit({ limit: 1 })).at(-1)?.id ?? 0;
    const stop = opts.signal ?? interruptSignal();
    while (!stop.aborted) {
      await sleep(opts.pollMs ?? POLL_MS, undefined, { signal: stop }).catch(() => {
        /* stopped */
      });
      const next = await core.store.queryAudit({ ...query, since: undefined, afterId: last, limit: 1000, oldestFirst: true });
      print(next);
      last = next.at(-1)?.id ?? last;
    }
    return 0;
  } finally {
    await core.close();
  }
}

function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  return ac.signal;
}
