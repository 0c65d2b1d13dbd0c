/**
 * policy.enforce and policy.observe: who is enforced, observed, or enforced from a date (the
 * rollout entries of core/rollout.ts). A plain string keeps its old meaning — enforce now — so an
 * existing configuration reads the same. Objects add a mode or a date:
 *   { domain: example.net, from: 2027-01-15 }     observe until that day, enforce from it
 *   { account: a@example.com, mode: observe }     main password works, logins are recorded
 * A date alone is midnight at the start of that day in the server's time zone (the server's clock
 * decides, as for every other time mailgate keeps); a full ISO time may carry its own offset.
 */
import { z } from 'zod';
import type { RolloutEntry } from '../core/rollout.js';

type Ctx = z.RefinementCtx;
const show = (v: unknown) => JSON.stringify(v);
const ENTRY_KEYS = ['domain', 'account', 'mode', 'from'];

/** "2027-01-15" → local midnight; "2027-01-15T06:00:00Z" (or with ±hh:mm, or local) → that time; else null. */
export function parseFromDate(v: unknown): number | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.getTime();
  if (typeof v !== 'string') return null;
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v.trim());
  if (day) {
    const [y, m, d] = [Number(day[1]), Number(day[2]), Number(day[3])];
    const t = new Date(y, m - 1, d);
    // new Date rolls 2027-02-30 over to March: refuse instead of guessing.
    return t.getFullYear() === y && t.getMonth() === m - 1 && t.getDate() === d ? t.getTime() : null;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.test(v.trim())) return null;
  const t = Date.parse(v.trim());
  return Number.isNaN(t) ? null : t;
}

const target = (v: string) => v.trim().toLowerCase().replace(/^@/, '');

/** One entry of policy.enforce (`mode` given: a string from policy.observe). */
function readEntry(v: unknown, ctx: Ctx, path: (string | number)[], mode: 'enforce' | 'observe'): RolloutEntry | null {
  const issue = (message: string, sub: (string | number)[] = []) => {
    ctx.addIssue({ code: 'custom', path: [...path, ...sub], message });
    return null;
  };
  if (typeof v === 'string')
    return v.trim() === '' ? issue('expected a domain or an address, got ""') : { target: target(v), mode, from: null };
  if (mode === 'observe') return issue(`expected a domain or an address, got ${show(v)}`);
  if (!v || typeof v !== 'object' || Array.isArray(v))
    return issue(`expected a domain, an address, or a mapping like { domain: example.com, from: 2027-01-15 }, got ${show(v)}`);
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !ENTRY_KEYS.includes(k));
  if (unknown.length) return issue(`unknown key ${unknown.join(', ')} (allowed: ${ENTRY_KEYS.join(', ')})`);
  const domain = typeof o.domain === 'string' ? o.domain.trim() : null;
  const account = typeof o.account === 'string' ? o.account.trim() : null;
  if ((domain ? 1 : 0) + (account ? 1 : 0) !== 1) return issue('expected exactly one of domain: or account:');
  if (domain?.includes('@')) return issue(`a domain has no "@": ${show(domain)} (use account: for an address)`, ['domain']);
  if (account && !account.includes('@')) return issue(`expected an address like a@example.com, got ${show(account)}`, ['account']);
  const m = o.mode ?? 'enforce';
  if (m !== 'enforce' && m !== 'observe') return issue(`expected enforce or observe, got ${show(m)}`, ['mode']);
  let from: number | null = null;
  if (o.from !== undefined && o.from !== null) {
    if (m === 'observe') return issue('from: is the date enforcement starts: it goes with mode enforce, not observe', ['from']);
    from = parseFromDate(o.from);
    if (from === null) return issue(`expected a date like 2027-01-15 or 2027-01-15T06:00:00Z, got ${show(o.from)}`, ['from']);
  }
  return { target: target((domain ?? account) as string), mode: m, from };
}

/** A field for policy.enforce (`mode` enforce) or policy.observe: a list, or "all" for enforce. */
export function rolloutField(mode: 'enforce' | 'observe') {
  return z
    .unknown()
    .optional()
    .transform((v, ctx): 'all' | RolloutEntry[] => {
      if (v === undefined || v === null) return [];
      if (v === 'all' && mode === 'enforce') return 'all';
      if (!Array.isArray(v)) {
        ctx.addIssue({ code: 'custom', message: `expected ${mode === 'enforce' ? '"all" or ' : ''}a list of domains and addresses` });
        return z.NEVER;
      }
      return v.map((x, i) => readEntry(x, ctx, [i], mode)).filter((e): e is RolloutEntry => e !== null);
    });
}

/** policy.enforce and policy.observe as one list (or "all"); a target listed twice is a problem. */
export function joinRollout(enforce: 'all' | RolloutEntry[], observe: 'all' | RolloutEntry[], ctx: Ctx): 'all' | RolloutEntry[] {
  const observed = observe === 'all' ? [] : observe;
  if (enforce === 'all') {
    if (observed.length)
      ctx.addIssue({
        code: 'custom',
        path: ['observe'],
        message: 'enforce: all leaves no one to observe: list domains in enforce instead',
      });
    return 'all';
  }
  const seen = new Set<string>();
  for (const e of [...enforce, ...observed]) {
    if (seen.has(e.target)) ctx.addIssue({ code: 'custom', message: `${e.target} is listed twice in policy.enforce/observe` });
    seen.add(e.target);
  }
  return [...enforce, ...observed];
}
