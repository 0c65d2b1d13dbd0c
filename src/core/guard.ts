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
 * In memory and per process; blocks are reported through the `onEvent` callback (audit log) and
 * can be lifted with unblock(). Clock injected; no timers.
 */
import { isIPv6 } from 'node:net';
import type { Clock } from './types.js';

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
  baseDelayMs: 2_000, maxDelayMs: 15_000, blockAfter: 10, blockForMs: 15 * 60_000, windowMs: 15 * 60_000,
  accountCeiling: 30, knownSourceMs: 30 * 86_400_000, maxEntries: 100_000,
};

export type GuardEvent =
  | { type: 'abuse.block'; source: string; until: number; failures: number }
  | { type: 'abuse.account-ceiling'; account: string; until: number; failures: number }
  | { type: 'abuse.unblock'; source: string }
  /** Every tracked source is blocked: new sources are refused until `until` (reported once per episode). */
  | { type: 'abuse.table-full'; entries: number; until: number };

export type Verdict =
  | { kind: 'allow' }
  | { kind: 'blocked'; reason: 'source-blocked' | 'account-ceiling' | 'table-full'; until: number };

/**
 * failures: distinct failures in the window (what blocks); forgiven: how many of them successes
 * excused (they no longer lengthen the delay); byAccount: failures per account, so a success
 * forgives only its own account's.
 */
interface SourceEntry { failures: number; forgiven: number; first: number; blockedUntil: number; seen: string[]; byAccount: Map<string, number> }
interface AccountEntry { failures: number; first: number; ceilingUntil: number }

/** The unit of blame: the address, or its /64 for IPv6 (one customer line hands out a whole /64). */
export function sourceOf(ip: string): string {
  const addr = ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  if (!isIPv6(addr)) return addr;
  const [head = '', tail = ''] = addr.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => (parseInt(g || '0', 16) || 0).toString(16)).join(':')}::/64`;
}

export class AuthGuard {
  private readonly sources = new Map<string, SourceEntry>();
  private readonly accounts = new Map<string, AccountEntry>();
  /** account → source → time of the last success. */
  private readonly known = new Map<string, Map<string, number>>();
  /** While > now, the source table is known to hold only blocks (no entry to evict). */
  private fullUntil = 0;

  constructor(private readonly clock: Clock, private readonly opts: GuardOptions = DEFAULT_GUARD, private readonly onEvent: (e: GuardEvent) => void = () => {}) {}

  /** Before any work: may this source try this account now? */
  check(ip: string, account: string | null): Verdict {
    const now = this.clock.now();
    const src = sourceOf(ip);
    const s = this.source(src, now);
    if (s && s.blockedUntil > now) return { kind: 'blocked', reason: 'source-blocked', until: s.blockedUntil };
    if (!s && !this.roomForSource(now)) return { kind: 'blocked', reason: 'table-full', until: this.fullUntil };
    if (account) {
      const a = this.account(account, now);
      if (a && a.ceilingUntil > now && !this.isKnown(account, src, now)) return { kind: 'blocked', reason: 'account-ceiling', until: a.ceilingUntil };
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
    let s = this.source(src, now);
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
        // Blocked entries move to the end, so eviction (oldest first) finds unblocked ones at once.
        this.sources.delete(src);
        this.sources.set(src, s);
        this.onEvent({ type: 'abuse.block', source: src, until: s.blockedUntil, failures: s.failures });
      }
      if (account && !this.isKnown(account, src, now)) this.countAccount(account, now);
    }
    const counted = s.failures - s.forgiven;
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** Math.max(0, Math.min(counted - 1, 20)));
  }

  /**
   * A successful login: the source becomes known for the account, and the failures this source
   * made on this account no longer lengthen its delay (the owner's typo). They still count
   * towards the source's block: any account the attacker owns would otherwise reset it.
   */
  success(ip: string, account: string): void {
    const now = this.clock.now();
    const src = sourceOf(ip);
    let k = this.known.get(account);
    if (!k) { k = new Map(); this.fresh(this.known, account, k); }
    k.set(src, now);
    const s = this.sources.get(src);
    const own = s?.byAccount.get(account);
    if (s && own) { s.forgiven += own; s.byAccount.delete(account); }
  }

  /** Lifts a block (admin action); accepts an address or a source as listed. */
  unblock(ipOrSource: string): boolean {
    const src = ipOrSource.endsWith('/64') ? ipOrSource : sourceOf(ipOrSource);
    const had = this.sources.delete(src);
    if (had) { this.fullUntil = 0; this.onEvent({ type: 'abuse.unblock', source: src }); }
    return had;
  }

  /** Sources blocked now. */
  blocks(): Array<{ source: string; until: number; failures: number }> {
    const now = this.clock.now();
    return [...this.sources].filter(([, s]) => s.blockedUntil > now).map(([source, s]) => ({ source, until: s.blockedUntil, failures: s.failures }));
  }

  private isKnown(account: string, src: string, now: number): boolean {
    const t = this.known.get(account)?.get(src);
    return t !== undefined && now - t < this.opts.knownSourceMs;
  }

  private countAccount(account: string, now: number): void {
    let a = this.account(account, now);
    if (!a) {
      // A table full of ceilings keeps them: the new account goes uncounted rather than one
      // under attack being forgotten (the per-source blocks still apply to every attacker).
      if (this.accounts.size >= this.opts.maxEntries && !this.evict(this.accounts, (e) => e.ceilingUntil <= now)) return;
      a = { failures: 0, first: now, ceilingUntil: 0 };
      this.accounts.set(account, a);
    }
    a.failures++;
    if (a.failures >= this.opts.accountCeiling && a.ceilingUntil <= now) {
      a.ceilingUntil = now + this.opts.windowMs;
      this.onEvent({ type: 'abuse.account-ceiling', account, until: a.ceilingUntil, failures: a.failures });
    }
  }

  /** The live entry for a source, forgetting it once its window and block are over. */
  private source(src: string, now: number): SourceEntry | undefined {
    const s = this.sources.get(src);
    if (s && now - s.first > this.opts.windowMs && s.blockedUntil <= now) { this.sources.delete(src); return undefined; }
    return s;
  }

  private account(account: string, now: number): AccountEntry | undefined {
    const a = this.accounts.get(account);
    if (a && now - a.first > this.opts.windowMs && a.ceilingUntil <= now) { this.accounts.delete(account); return undefined; }
    return a;
  }

  /**
   * Makes room for one more source if the table is full, evicting the oldest unblocked entry;
   * false when every entry is blocked (reported once per episode).
   */
  private roomForSource(now: number): boolean {
    if (this.sources.size < this.opts.maxEntries) return true;
    if (this.fullUntil > now) return false;
    if (this.evict(this.sources, (e) => e.blockedUntil <= now)) return true;
    let until = Infinity;
    for (const e of this.sources.values()) until = Math.min(until, e.blockedUntil);
    this.fullUntil = until;
    this.onEvent({ type: 'abuse.table-full', entries: this.sources.size, until: this.fullUntil });
    return false;
  }

  /** Deletes the oldest entry that `evictable` allows; false if there is none. */
  private evict<V>(map: Map<string, V>, evictable: (v: V) => boolean): boolean {
    for (const [k, v] of map) if (evictable(v)) { map.delete(k); return true; }
    return false;
  }

  /** Inserts with a memory bound (Map order = oldest first). */
  private fresh<V>(map: Map<string, V>, key: string, v: V): V {
    if (map.size >= this.opts.maxEntries) { const oldest = map.keys().next(); if (!oldest.done) map.delete(oldest.value); }
    map.set(key, v);
    return v;
  }
}
