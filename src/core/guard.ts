/**
 * Brute-force defence for every login front (IMAP, SMTP, POP3, portal). Password spraying comes
 * from many sources at few accounts, credential stuffing from few sources at many accounts; both
 * must get slower and then stop, while the legitimate user keeps working from their usual network.
 *
 *  - Per source (an IPv4 address, an IPv6 /64): each counted failure delays its answer, doubling
 *    from `baseDelayMs` to `maxDelayMs` (as Dovecot does); past `blockAfter` failures in the
 *    window the source is blocked for `blockForMs` and answered at once, with no bcrypt and no
 *    upstream connection.
 *  - The same wrong secret sent again by a misconfigured mail app is not counted again: an old
 *    password in a phone retrying every minute must not escalate to a block.
 *  - Per account: past `accountCeiling` failures from sources that never logged in to it
 *    successfully, new sources are refused for that account for the window — but sources where the
 *    account recently succeeded stay open, so the ceiling cannot be used to lock its owner out.
 *  - A success forgives only the failures of that (source, account) pair, and only for the delay:
 *    the source's count towards its block stays, or an attacker logging in to an account of their
 *    own between guesses would never be blocked.
 *  - The tables are bounded, and flooding them with new sources must not evict blocks: unblocked
 *    entries go first; a table full of blocks refuses new sources until a block ends.
 *
 * That is the mail login policy (check/failure/success). The portal's password step, its code
 * step and the admin token use named delay policies on the same guard (guard-delay.ts: a wait
 * past a few free failures, answered 429); the portal's password step also shares the mail
 * login's blocks and counts there.
 *
 * In memory and per process; blocks are reported through the `onEvent` callback (audit log) and
 * can be lifted with unblock() (watchUnblocks: from another process). Clock injected; no timers.
 * The tables are lru-cache maps with a TTL (ttlmap.ts).
 */
import { isIPv6 } from 'node:net';
import { DEFAULT_POLICIES, DelayCounter, type DelayPolicy, type PolicyName } from './guard-delay.js';
import { evictOldest, ttlMap } from './ttlmap.js';
import type { Clock } from './types.js';
import { unmapIpv4 } from './ip.js';

export { DEFAULT_POLICIES, type DelayPolicy, type PolicyName } from './guard-delay.js';

export interface GuardOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Counted failures from one source within `windowMs` before it is blocked. */
  blockAfter: number;
  blockForMs: number;
  windowMs: number;
  /** Failures on one account from sources unknown to it, within `windowMs`, before new sources are refused. */
  accountCeiling: number;
  /** How long a successful login makes a source "known" for that account. */
  knownSourceMs: number;
  /** Memory bound for each table. */
  maxEntries: number;
}

export const DEFAULT_GUARD: GuardOptions = {
  baseDelayMs: 2_000,
  maxDelayMs: 15_000,
  blockAfter: 10,
  blockForMs: 15 * 60_000,
  windowMs: 15 * 60_000,
  accountCeiling: 30,
  knownSourceMs: 30 * 86_400_000,
  maxEntries: 100_000,
};

export type GuardEvent =
  | { type: 'abuse.block'; source: string; until: number; failures: number }
  | { type: 'abuse.account-ceiling'; account: string; until: number; failures: number }
  | { type: 'abuse.unblock'; source: string }
  /** Every tracked source is blocked: new sources are refused until `until` (reported once per episode). */
  | { type: 'abuse.table-full'; entries: number; until: number };

export type Verdict = { kind: 'allow' } | { kind: 'blocked'; reason: 'source-blocked' | 'account-ceiling' | 'table-full'; until: number };

/**
 * failures: distinct failures in the window (what blocks); forgiven: how many of them successes
 * excused (they no longer lengthen the delay); byAccount: failures per account, so a success
 * forgives only its own account's.
 */
interface SourceEntry {
  failures: number;
  forgiven: number;
  first: number;
  blockedUntil: number;
  seen: string[];
  byAccount: Map<string, number>;
}
interface AccountEntry {
  failures: number;
  first: number;
  ceilingUntil: number;
}

/** The unit of blame: the address, or its /64 for IPv6 (one customer line hands out a whole /64). */
export function sourceOf(ip: string): string {
  const addr = unmapIpv4(ip);
  if (!isIPv6(addr)) return addr;
  const [head = '', tail = ''] = addr.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g || '0', 16) || 0).toString(16))
    .join(':')}::/64`;
}

/** The wait before answering a failure, doubling with each counted (unforgiven) failure. */
export function failureDelay(opts: Pick<GuardOptions, 'baseDelayMs' | 'maxDelayMs'>, counted: number): number {
  return Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** Math.max(0, Math.min(counted - 1, 20)));
}

export class AuthGuard {
  private readonly sources;
  private readonly accounts;
  /** account → source → time of the last success. */
  private readonly known;
  /** While > now, the source table is known to hold only blocks (no entry to evict). */
  private fullUntil = 0;
  private readonly policies = new Map<PolicyName, DelayCounter>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: GuardOptions = DEFAULT_GUARD,
    private readonly onEvent: (e: GuardEvent) => void = () => {},
    policies: Partial<Record<PolicyName, Partial<DelayPolicy>>> = {},
  ) {
    // Sources and accounts are only added once roomFor() made space, so lru-cache never evicts
    // one by itself (it would evict a block as readily as anything): the guard chooses what goes.
    this.sources = ttlMap<SourceEntry>(clock, opts.maxEntries, opts.windowMs);
    this.accounts = ttlMap<AccountEntry>(clock, opts.maxEntries, opts.windowMs);
    this.known = ttlMap<Map<string, number>>(clock, opts.maxEntries, opts.knownSourceMs);
    for (const name of Object.keys(DEFAULT_POLICIES) as PolicyName[]) {
      this.policies.set(name, new DelayCounter(clock, { ...DEFAULT_POLICIES[name], ...policies[name] }));
    }
  }

  /** Before any work: may this source try this account now? */
  check(ip: string, account: string | null): Verdict {
    const now = this.clock.now();
    const src = sourceOf(ip);
    const s = this.sources.get(src);
    if (s && s.blockedUntil > now) return { kind: 'blocked', reason: 'source-blocked', until: s.blockedUntil };
    if (!s && !this.roomForSource(now)) return { kind: 'blocked', reason: 'table-full', until: this.fullUntil };
    if (account) {
      const a = this.accounts.get(account);
      if (a && a.ceilingUntil > now && !this.isKnown(account, src, now))
        return { kind: 'blocked', reason: 'account-ceiling', until: a.ceilingUntil };
    }
    return { kind: 'allow' };
  }

  /**
   * Records a failed login; returns how long to wait before answering it. `fingerprint` identifies
   * the (account, secret) pair without revealing it (a keyed hash), so repeats are not counted.
   */
  failure(ip: string, account: string | null, fingerprint: string): number {
    const now = this.clock.now();
    const src = sourceOf(ip);
    let s = this.sources.get(src);
    if (!s) {
      // A full table (every entry blocked) cannot take a new source; check() refuses it anyway.
      if (!this.roomForSource(now)) return this.opts.maxDelayMs;
      s = { failures: 0, forgiven: 0, first: now, blockedUntil: 0, seen: [], byAccount: new Map() };
      this.sources.set(src, s);
    }
    const repeat = s.seen.includes(fingerprint);
    if (!repeat) {
      s.failures++;
      s.seen.push(fingerprint);
      if (s.seen.length > 8) s.seen.shift();
      const key = account ?? '';
      const onAccount = (s.byAccount.get(key) ?? 0) + 1;
      s.byAccount.delete(key); // re-insert: Map order is then "least recently failed first"
      s.byAccount.set(key, onAccount);
      if (s.byAccount.size > 16) s.byAccount.delete(s.byAccount.keys().next().value!);
      if (s.failures >= this.opts.blockAfter && s.blockedUntil <= now) {
        s.blockedUntil = now + this.opts.blockForMs;
        // Re-set: the entry now lives until its block ends (or its window, if later), and moves to
        // the most recent end, so eviction (least recent first) finds unblocked ones at once.
        this.sources.set(src, s, { ttl: Math.max(s.first + this.opts.windowMs, s.blockedUntil) - now });
        this.onEvent({ type: 'abuse.block', source: src, until: s.blockedUntil, failures: s.failures });
      }
      if (account && !this.isKnown(account, src, now)) this.countAccount(account, now);
    }
    return failureDelay(this.opts, s.failures - s.forgiven);
  }

  /**
   * A successful login: the source becomes known for the account, and the failures this source
   * made on this account no longer lengthen its delay (the owner's typo). They still count
   * towards the source's block: any account the attacker owns would otherwise reset it.
   */
  success(ip: string, account: string): void {
    const now = this.clock.now();
    const src = sourceOf(ip);
    const k = this.known.get(account) ?? new Map<string, number>();
    k.set(src, now);
    this.known.set(account, k); // refreshes its TTL: known for knownSourceMs after the last success
    const s = this.sources.get(src);
    const own = s?.byAccount.get(account);
    if (s && own) {
      s.forgiven += own;
      s.byAccount.delete(account);
    }
  }

  /**
   * A named policy (portal password, portal code, admin token): how long (client, account) must
   * still wait before trying again, 0 to go ahead. A policy sharing the mail login also waits out
   * its blocks and account ceilings.
   */
  waitMs(policy: PolicyName, ip: string, account: string | null): number {
    const counter = this.policies.get(policy)!;
    const wait = counter.waitMs(sourceOf(ip), account);
    if (!counter.policy.sharesMailLogin) return wait;
    const v = this.check(ip, account);
    return v.kind === 'blocked' ? Math.max(wait, v.until - this.clock.now()) : wait;
  }

  /**
   * A named policy's failure; returns the wait it now imposes. `fingerprint` as for failure(),
   * needed by a policy that shares the mail login (its repeats are not counted there).
   */
  fail(policy: PolicyName, ip: string, account: string | null, fingerprint = ''): number {
    const counter = this.policies.get(policy)!;
    if (counter.policy.sharesMailLogin) this.failure(ip, account, fingerprint);
    return counter.fail(sourceOf(ip), account);
  }

  /** A named policy's success: forgives that client's failures on the account (never the client-wide count). */
  succeed(policy: PolicyName, ip: string, account: string): void {
    const counter = this.policies.get(policy)!;
    counter.forgive(sourceOf(ip), account);
    if (counter.policy.sharesMailLogin) this.success(ip, account);
  }

  /** A named policy as configured here (the shared guard counts it in Redis the same way). */
  policy(name: PolicyName): DelayPolicy {
    return this.policies.get(name)!.policy;
  }

  /** Lifts a block (admin action); accepts an address or a source as listed. */
  unblock(ipOrSource: string): boolean {
    const src = ipOrSource.endsWith('/64') ? ipOrSource : sourceOf(ipOrSource);
    const had = this.sources.delete(src);
    if (had) {
      this.fullUntil = 0;
      this.onEvent({ type: 'abuse.unblock', source: src });
    }
    return had;
  }

  /**
   * Holds a block decided elsewhere (the shared state of several instances), so that it still
   * holds here if that state becomes unreachable. No event: whoever decided it reported it.
   */
  mirrorBlock(ipOrSource: string, until: number, failures: number): void {
    const src = ipOrSource.endsWith('/64') ? ipOrSource : sourceOf(ipOrSource);
    const now = this.clock.now();
    if (until <= now) return;
    const s = this.sources.get(src) ?? { failures, forgiven: 0, first: now, blockedUntil: 0, seen: [], byAccount: new Map() };
    if (s.blockedUntil >= until) return;
    s.blockedUntil = until;
    s.failures = Math.max(s.failures, failures);
    this.sources.set(src, s, { ttl: until - now });
  }

  /** Sources blocked now, the least recently active first. */
  blocks(): Array<{ source: string; until: number; failures: number }> {
    const now = this.clock.now();
    const entries = [...this.sources.rentries()] as Array<[string, SourceEntry]>;
    return entries.filter(([, s]) => s.blockedUntil > now).map(([source, s]) => ({ source, until: s.blockedUntil, failures: s.failures }));
  }

  private isKnown(account: string, src: string, now: number): boolean {
    const t = this.known.get(account)?.get(src);
    return t !== undefined && now - t < this.opts.knownSourceMs;
  }

  private countAccount(account: string, now: number): void {
    let a = this.accounts.get(account);
    if (!a) {
      // A table full of ceilings keeps them: the new account goes uncounted rather than one
      // under attack being forgotten (the per-source blocks still apply to every attacker).
      if (this.accounts.size >= this.opts.maxEntries) this.accounts.purgeStale();
      if (this.accounts.size >= this.opts.maxEntries && !evictOldest(this.accounts, (e) => e.ceilingUntil <= now)) return;
      a = { failures: 0, first: now, ceilingUntil: 0 };
      this.accounts.set(account, a);
    }
    a.failures++;
    if (a.failures >= this.opts.accountCeiling && a.ceilingUntil <= now) {
      a.ceilingUntil = now + this.opts.windowMs;
      this.accounts.set(account, a, { ttl: this.opts.windowMs }); // lives as long as its ceiling
      this.onEvent({ type: 'abuse.account-ceiling', account, until: a.ceilingUntil, failures: a.failures });
    }
  }

  /**
   * Makes room for one more source if the table is full, evicting the oldest unblocked entry;
   * false when every entry is blocked (reported once per episode).
   */
  private roomForSource(now: number): boolean {
    if (this.sources.size < this.opts.maxEntries) return true;
    if (this.fullUntil > now) return false;
    this.sources.purgeStale();
    if (this.sources.size < this.opts.maxEntries || evictOldest(this.sources, (e) => e.blockedUntil <= now)) return true;
    let until = Infinity;
    for (const e of this.sources.values()) until = Math.min(until, e.blockedUntil);
    this.fullUntil = until;
    this.onEvent({ type: 'abuse.table-full', entries: this.sources.size, until: this.fullUntil });
    return false;
  }
}
