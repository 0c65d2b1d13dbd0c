/**
 * The logins phase's reference rows: the bare Node login proxy (`login-floor.ts`) measured in the
 * same rounds as direct, mailgate and nginx, so the note can say what any Node login proxy costs
 * on this machine and how far mailgate and nginx are from it.
 */
import type { LoginResult } from './imap-load.js';
import { add, type Ctx } from './rounds.js';

/** One path's warm-login round: the storm's figures and CPU per login by who spent it (ms). */
export interface WarmLogins extends LoginResult {
  boxMs: number;
  dovecotMs: number;
  /** The proxy process (the gate, the floor, nginx's master + workers); NaN direct. */
  gateMs: number;
}

const per = (xs: WarmLogins[], f: (x: WarmLogins) => number): number[] => xs.map(f);

/** Adds the floor's rows (its figures in the mailgate column) and mailgate's and nginx's ratio to it, round by round. */
export function loginFloorRows(
  ctx: Ctx,
  section: string,
  t: string,
  res: { direct: WarmLogins[]; mailgate: WarmLogins[]; floor: WarmLogins[]; nginx?: WarmLogins[] | undefined },
): void {
  const ref = `${t}, warm: reference bare Node login proxy`;
  const row = (metric: string, unit: string, compare: 'ratio' | 'delta', f: (x: WarmLogins) => number) =>
    add(ctx, { section, metric: `${ref} ${metric} (mailgate column)`, unit, compare, d: per(res.direct, f), m: per(res.floor, f) });
  row('logins/s', '/s', 'ratio', (x) => x.perS);
  row('p50', 'ms', 'delta', (x) => x.lat.p50);
  row('machine CPU per login', 'ms', 'delta', (x) => x.boxMs);
  row("Dovecot's CPU per login", 'ms', 'delta', (x) => x.dovecotMs);
  add(ctx, {
    section,
    metric: `${ref}: its process's CPU per login (mailgate column)`,
    unit: 'ms',
    compare: 'none',
    d: null,
    m: per(res.floor, (x) => x.gateMs),
  });
  // Ratios within each round (same load on the box), then their median.
  const against = (xs: WarmLogins[]) => xs.map((x, i) => x.perS / (res.floor[i]?.perS ?? Number.NaN));
  add(ctx, {
    section,
    metric: `${t}, warm: logins/s as a share of the bare Node login proxy's (per round; mailgate/floor, nginx/floor)`,
    unit: 'x',
    compare: 'none',
    d: null,
    m: against(res.mailgate),
    n: res.nginx ? against(res.nginx) : undefined,
  });
}
