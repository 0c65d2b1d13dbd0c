/**
 * The guard's named delay policies (portal password, portal code step, admin token): counters of
 * recent failures per key that, past a few free failures, make the caller wait an exponentially
 * growing time before the next try. They refuse early (HTTP 429) instead of sleeping, so a flood of
 * guesses holds no connections or timers open. The mail login has its own, richer policy
 * (guard.ts: delays, blocks, account ceilings).
 */
import { ttlMap } from './ttlmap.js';
import type { Clock } from './types.js';

/** What one failure is counted against: the client and account, the account, or the client. */
export type CountedPer = 'client+account' | 'account' | 'client';

export interface DelayPolicy {
  /** Each failure is counted under every one of these keys, with its own free failures. */
  counts: ReadonlyArray<{ per: CountedPer; freeFailures: number }>;
  /** Wait after the first failure past the free ones; doubles with each further failure. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A key with no failure for this long (and no wait left) starts over. */
  forgetAfterMs: number;
  /** Memory bound per policy: beyond it the least recently failed keys are forgotten. */
  maxKeys: number;
  /** The mail fronts' blocks and failures apply too (same passwords, same attackers). */
  sharesMailLogin: boolean;
}

export type PolicyName = 'portal-password' | 'portal-code' | 'admin-token';

const TIMING = { baseDelayMs: 2_000, maxDelayMs: 5 * 60_000, forgetAfterMs: 15 * 60_000, maxKeys: 100_000 };

export const DEFAULT_POLICIES: Readonly<Record<PolicyName, DelayPolicy>> = {
  // Wrong main passwords typed into the portal: per client and account, and per client whatever
  // the account (spraying one password over many accounts).
  'portal-password': {
    ...TIMING,
    counts: [
      { per: 'client+account', freeFailures: 5 },
      { per: 'client', freeFailures: 30 },
    ],
    sharesMailLogin: true,
  },
  // TOTP, emergency and enrolment codes: per account, so a 6-digit code cannot be walked through
  // from many addresses at once.
  'portal-code': { ...TIMING, counts: [{ per: 'account', freeFailures: 5 }], sharesMailLogin: false },
  'admin-token': { ...TIMING, counts: [{ per: 'client', freeFailures: 30 }], sharesMailLogin: false },
};

/** The keys a failure of (client, account) is counted under, each with its free failures. */
export function delayKeys(policy: DelayPolicy, client: string, account: string | null): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const c of policy.counts) {
    if (c.per === 'client') out.push([`client:${client}`, c.freeFailures]);
    else if (account !== null) out.push([c.per === 'account' ? `account:${account}` : `pair:${client}|${account}`, c.freeFailures]);
  }
  return out;
}

interface Entry {
  failures: number;
  until: number;
}

/** The failure counter of one named policy. */
export class DelayCounter {
  private readonly entries;

  constructor(
    private readonly clock: Clock,
    readonly policy: DelayPolicy,
  ) {
    this.entries = ttlMap<Entry>(clock, policy.maxKeys);
  }

  private keys(client: string, account: string | null): Array<[string, number]> {
    return delayKeys(this.policy, client, account);
  }

  /** Milliseconds still to wait before (client, account) may try again; 0 means go ahead. */
  waitMs(client: string, account: string | null): number {
    const now = this.clock.now();
    return Math.max(0, ...this.keys(client, account).map(([k]) => (this.entries.get(k)?.until ?? 0) - now));
  }

  /** Records a failure; returns the wait now imposed. */
  fail(client: string, account: string | null): number {
    const now = this.clock.now();
    let wait = 0;
    for (const [k, free] of this.keys(client, account)) {
      const e = this.entries.get(k) ?? { failures: 0, until: 0 };
      e.failures += 1;
      const over = e.failures - free;
      const w = over <= 0 ? 0 : Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(over - 1, 30));
      e.until = now + w;
      // Re-set: the entry becomes the most recently failed, and lives until forgotten or waited out.
      this.entries.set(k, e, { ttl: Math.max(this.policy.forgetAfterMs, w) });
      wait = Math.max(wait, w);
    }
    return wait;
  }

  /**
   * After a success: forgets the (client, account) and account counts (the right user should
   * not inherit a stranger's failures) — never the client-wide count, which any account the
   * attacker owns would otherwise reset.
   */
  forgive(client: string, account: string): void {
    for (const [k] of this.keys(client, account)) if (!k.startsWith('client:')) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }
}
