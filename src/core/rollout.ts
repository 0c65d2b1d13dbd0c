/**
 * Rolling enforcement out gradually: which mode an account is in at a given time. Each policy
 * entry names a domain or an account and a mode — `observe` (the main password still works, every
 * such login is recorded as "would break"), or `enforce`, optionally `from` a date until which the
 * entry observes. The admin's or the user's per-account override beats any entry; an account entry
 * beats its domain's, which beats `all`: the most specific word the admin wrote wins.
 *
 * Pure: the time is a parameter, so a date passing is tested without waiting.
 */
import { domainOf } from './identity.js';

/** One configured entry (config/schema.ts turns strings and objects into these). */
export interface RolloutEntry {
  /** A domain (no "@") or an account (with "@"), canonical lower case. */
  target: string;
  mode: 'enforce' | 'observe';
  /** For `enforce`: observe before this time (ms), enforce from it; null = enforce now. */
  from: number | null;
}

/** The policy's rollout entries, or "all" (every account enforced now). A plain string is `enforce` now. */
export type RolloutPolicy = 'all' | readonly (string | RolloutEntry)[];

/** What the core needs of `policy` (config's PolicyConfig fits). */
export interface EnforcePolicy {
  enforce: RolloutPolicy;
}

const entry = (e: string | RolloutEntry): RolloutEntry => (typeof e === 'string' ? { target: e, mode: 'enforce', from: null } : e);

/** off: not in any entry (passthrough, nothing recorded). */
export type Mode = 'enforce' | 'observe' | 'off';

export interface ModeAt {
  mode: Mode;
  /** The date from which the account is enforced (set while a dated entry still observes, and after). */
  from: number | null;
  /** What decided: the per-account override, a policy entry, or nothing. */
  source: 'override' | 'policy' | 'none';
}

/** The entry that applies to `account`: its own, else its domain's (null: none). */
export function entryFor(policy: RolloutPolicy, account: string): RolloutEntry | null {
  if (policy === 'all') return { target: '*', mode: 'enforce', from: null };
  const domain = domainOf(account);
  let byDomain: RolloutEntry | null = null;
  for (const x of policy) {
    const e = entry(x);
    if (e.target === account) return e;
    if (!e.target.includes('@') && e.target === domain) byDomain ??= e;
  }
  return byDomain;
}

/** The account's mode at time `now`; `override` is the account row's (true/false/null). */
export function modeAt(policy: RolloutPolicy, override: boolean | null | undefined, account: string, now: number): ModeAt {
  if (override === true) return { mode: 'enforce', from: null, source: 'override' };
  if (override === false) return { mode: 'off', from: null, source: 'override' };
  const e = entryFor(policy, account);
  if (!e) return { mode: 'off', from: null, source: 'none' };
  if (e.mode === 'observe') return { mode: 'observe', from: null, source: 'policy' };
  return { mode: e.from !== null && now < e.from ? 'observe' : 'enforce', from: e.from, source: 'policy' };
}

/**
 * True when some dated entry switched to enforce in (since, now]: live main-password sessions of
 * its accounts must then end, as after a reload that enforces them (core/livepolicy.ts).
 */
export function datePassed(policy: RolloutPolicy, since: number, now: number): boolean {
  if (policy === 'all') return false;
  return policy.map(entry).some((e) => e.mode === 'enforce' && e.from !== null && since < e.from && e.from <= now);
}
