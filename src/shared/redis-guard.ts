/**
 * The brute-force guard shared by several instances through Redis. Why here and not in core/ or
 * store/: core stays free of sockets, and this is not a Store backend (no contract, no migrations,
 * state that expires by itself, beside either store) but the state instances share.
 *
 * Every step goes to Redis (guard-scripts.ts: atomic Lua) and is also written through to the local
 * AuthGuard; blocks Redis reports are mirrored locally. So when Redis is unreachable the local guard
 * answers alone and still holds every block this instance has seen (it fails closed for them), and
 * blocks decided during the outage are written back on recovery (resync). The portal's named delay
 * policies (portal-password, portal-code, admin-token) are counted in Redis too, so a 6-digit code
 * gets its free failures once, not once per instance.
 */
import type { Guard } from '../core/guard-port.js';
import { delayKeys } from '../core/guard-delay.js';
import {
  type AuthGuard,
  DEFAULT_POLICIES,
  failureDelay,
  type GuardEvent,
  type GuardOptions,
  type PolicyName,
  sourceOf,
  type Verdict,
} from '../core/guard.js';
import type { Clock } from '../core/types.js';
import { defineGuardCommands, parseBlock } from './guard-scripts.js';
import type { RedisLink } from './redis-link.js';

export interface SharedGuardDeps {
  link: RedisLink;
  /** The local guard; build it with an onEvent that reports only while `link.up` is false. */
  local: AuthGuard;
  opts: GuardOptions;
  clock: Clock;
  /** Key prefix, e.g. "mailgate:guard:". */
  prefix: string;
  onEvent: (e: GuardEvent) => void;
  /** A step answered from the local state because Redis was unreachable. */
  onFallback: (step: string) => void;
}

export interface SharedGuard extends Guard {
  /** Writes the blocks held locally back to Redis (after an outage); resolves to how many were new there. */
  resync(): Promise<number>;
}

/** Builds the shared guard; see the file comment. */
export function sharedGuard(deps: SharedGuardDeps): SharedGuard {
  const { link, local, opts, clock, prefix } = deps;
  const redis = defineGuardCommands(link.client);
  const key = (kind: string, id: string) => `${prefix}${kind}:${id}`;
  const srcOf = (ipOrSource: string) => (ipOrSource.endsWith('/64') ? ipOrSource : sourceOf(ipOrSource));

  /** Runs a Redis step; null (and one fallback counted) when Redis cannot answer. */
  const attempt = async <T>(step: string, run: () => Promise<T>): Promise<T | null> => {
    if (!link.up) {
      deps.onFallback(step);
      return null;
    }
    try {
      return await run();
    } catch (e) {
      if (/timed out/i.test((e as Error).message)) link.suspect((e as Error).message);
      deps.onFallback(step);
      return null;
    }
  };

  const clean = cleanMemo(clock, Math.min(KNOWN_REFRESH_MS, opts.knownSourceMs / 10));

  const sharedCheck = async (ip: string, account: string | null): Promise<Verdict | null> => {
    const src = sourceOf(ip);
    const now = clock.now();
    const acct = account ?? '';
    const r = await attempt('check', () =>
      redis.mgCheck(key('b', src), key('a', acct), key('k', acct), key('sa', src), now, src, opts.knownSourceMs, clean.freshMs, acct),
    );
    if (!r) return null;
    const block = parseBlock(r[0] || null);
    if (block && block.until > now) {
      local.mirrorBlock(src, block.until, block.failures);
      return { kind: 'blocked', reason: 'source-blocked', until: block.until };
    }
    if (account && Number(r[1]) > now && Number(r[2]) === 0) return { kind: 'blocked', reason: 'account-ceiling', until: Number(r[1]) };
    if (account && Number(r[3]) === 1) clean.set(src, account);
    return { kind: 'allow' };
  };

  /** The shared count of a failure; resolves to its delay, or null when Redis cannot answer. */
  const sharedFailure = async (ip: string, account: string | null, fp: string): Promise<number | null> => {
    const src = sourceOf(ip);
    if (account) clean.drop(src, account); // this failure must be forgiven by the next success
    const now = clock.now();
    const acct = account ?? '';
    const o = opts;
    const r = await attempt('failure', () =>
      redis.mgFailure(
        key('s', src),
        key('seen', src),
        key('sa', src),
        key('b', src),
        key('a', acct),
        key('k', acct),
        ...[now, fp, acct, o.blockAfter, o.blockForMs, o.windowMs, o.knownSourceMs, o.accountCeiling, src],
      ),
    );
    if (!r) return null;
    const [failures = 0, forgiven = 0, blockedUntil = 0, newly = 0, ceilingUntil = 0, newCeiling = 0] = r.map(Number);
    if (blockedUntil > now) local.mirrorBlock(src, blockedUntil, failures);
    if (newly) deps.onEvent({ type: 'abuse.block', source: src, until: blockedUntil, failures });
    if (newCeiling) deps.onEvent({ type: 'abuse.account-ceiling', account: acct, until: ceilingUntil, failures: newCeiling });
    return failureDelay(o, failures - forgiven);
  };

  const sharedSuccess = async (ip: string, account: string): Promise<void> => {
    const src = sourceOf(ip);
    // The check just before found nothing for this success to change: skip the round trip. A
    // failure another instance records in between then stays unforgiven (a longer delay for
    // this source, never a shorter one), and the source stays known from its last recorded
    // success, at most freshMs + CLEAN_FOR_MS before this one: stricter, never laxer.
    if (clean.take(src, account)) return;
    await attempt('success', () =>
      redis.mgSuccess(key('k', account), key('s', src), key('sa', src), clock.now(), src, account, opts.knownSourceMs),
    );
  };

  const shares = (policy: PolicyName) => DEFAULT_POLICIES[policy].sharesMailLogin;
  const delayKey = (policy: PolicyName, k: string) => key('d', `${policy}:${k}`);

  /** A named policy's wait in Redis; null when Redis cannot answer. */
  const sharedWait = (policy: PolicyName, ip: string, account: string | null): Promise<number | null> =>
    attempt('wait', async () => {
      const now = clock.now();
      const keys = delayKeys(local.policy(policy), sourceOf(ip), account);
      const until = await Promise.all(keys.map(([k]) => redis.hget(delayKey(policy, k), 'until')));
      return Math.max(0, ...until.map((u) => Number(u ?? 0) - now));
    });

  /** A named policy's failure in Redis; resolves to the wait it imposes, null when Redis cannot answer. */
  const sharedDelayFail = (policy: PolicyName, ip: string, account: string | null): Promise<number | null> =>
    attempt('fail', async () => {
      const p = local.policy(policy);
      const now = clock.now();
      const keys = delayKeys(p, sourceOf(ip), account);
      const waits = await Promise.all(
        keys.map(([k, free]) => redis.mgDelayFail(delayKey(policy, k), now, free, p.baseDelayMs, p.maxDelayMs, p.forgetAfterMs)),
      );
      return Math.max(0, ...waits.map(Number));
    });

  return {
    async check(ip, account) {
      const here = local.check(ip, account);
      if (here.kind === 'blocked') return here; // a block seen here holds even if Redis lost it
      return (await sharedCheck(ip, account)) ?? here;
    },
    async failure(ip, account, fp) {
      const here = local.failure(ip, account, fp);
      return (await sharedFailure(ip, account, fp)) ?? here;
    },
    async success(ip, account) {
      local.success(ip, account);
      await sharedSuccess(ip, account);
    },
    async waitMs(policy, ip, account) {
      const wait = Math.max(local.waitMs(policy, ip, account), (await sharedWait(policy, ip, account)) ?? 0);
      if (!shares(policy)) return wait;
      const v = await sharedCheck(ip, account);
      return v?.kind === 'blocked' ? Math.max(wait, v.until - clock.now()) : wait;
    },
    async fail(policy, ip, account, fp = '') {
      const wait = local.fail(policy, ip, account, fp);
      if (shares(policy)) await sharedFailure(ip, account, fp);
      return Math.max(wait, (await sharedDelayFail(policy, ip, account)) ?? 0);
    },
    async succeed(policy, ip, account) {
      local.succeed(policy, ip, account);
      // Forgets the (client, account) and account counts, never the client-wide one (DelayCounter.forgive).
      const forgiven = delayKeys(local.policy(policy), sourceOf(ip), account).filter(([k]) => !k.startsWith('client:'));
      if (forgiven.length) await attempt('succeed', () => redis.del(...forgiven.map(([k]) => delayKey(policy, k))));
      if (shares(policy)) await sharedSuccess(ip, account);
    },
    async unblock(ipOrSource) {
      const src = srcOf(ipOrSource);
      const wasUp = link.up;
      const here = local.unblock(src); // reports the event itself while Redis is down
      const there = await attempt('unblock', () => dropSharedBlock(link, prefix, src));
      if (wasUp && (here || (there ?? 0) > 0)) deps.onEvent({ type: 'abuse.unblock', source: src });
      return here || (there ?? 0) > 0;
    },
    async blocks() {
      const now = clock.now();
      const all = new Map(local.blocks().map((b) => [b.source, b]));
      for (const b of (await attempt('blocks', () => listSharedBlocks(link, prefix, now))) ?? []) all.set(b.source, b);
      return [...all.values()];
    },
    async resync() {
      const now = clock.now();
      let added = 0;
      for (const b of local.blocks()) {
        const r = await attempt('resync', () => redis.mgMirror(key('b', b.source), b.until, b.failures, now));
        added += r ?? 0;
      }
      return added;
    },
  };
}

/** How stale a source's last recorded success may be before a success writes it again. */
const KNOWN_REFRESH_MS = 60_000;
/** A check's "clean" answer is used only by a success this soon after it (a login's own). */
const CLEAN_FOR_MS = 10_000;
const CLEAN_MAX = 10_000;

/**
 * (source, account) pairs whose checks found nothing a success would change: how many such checks
 * are still unanswered, and when the last was. Each success takes one, so concurrent logins of
 * one pair each skip (a mail app opens several connections at once); a failure here takes all.
 * Bounded: logins that end without a success leave theirs, and the oldest pairs go first.
 */
function cleanMemo(clock: Clock, freshMs: number) {
  const pairs = new Map<string, { n: number; at: number }>();
  const id = (src: string, account: string) => `${src}\n${account}`;
  return {
    freshMs,
    set(src: string, account: string): void {
      const k = id(src, account);
      const n = (pairs.get(k)?.n ?? 0) + 1;
      pairs.delete(k); // re-inserted last: the Map's order stays oldest first
      if (pairs.size >= CLEAN_MAX) pairs.delete(pairs.keys().next().value as string);
      pairs.set(k, { n, at: clock.now() });
    },
    drop(src: string, account: string): void {
      pairs.delete(id(src, account));
    },
    /** True (and one check used up) when a recent check found the pair clean. */
    take(src: string, account: string): boolean {
      const k = id(src, account);
      const e = pairs.get(k);
      if (!e) return false;
      if (--e.n <= 0) pairs.delete(k);
      return clock.now() - e.at <= CLEAN_FOR_MS;
    },
  };
}

/** Deletes a source's block and counts in Redis (the CLI's unblock too); resolves to 1 if it was blocked. */
export function dropSharedBlock(link: RedisLink, prefix: string, source: string): Promise<number> {
  return link.client.del(`${prefix}b:${source}`, `${prefix}s:${source}`, `${prefix}seen:${source}`, `${prefix}sa:${source}`);
}

/** The blocks Redis holds now (every instance's). */
export async function listSharedBlocks(
  link: RedisLink,
  prefix: string,
  now: number,
): Promise<Array<{ source: string; until: number; failures: number }>> {
  const keys = await scanKeys(link, `${prefix}b:*`);
  const values = keys.length ? await link.client.mget(...keys) : [];
  return keys.flatMap((k, i) => {
    const b = parseBlock(values[i] ?? null);
    return b && b.until > now ? [{ source: k.slice(prefix.length + 2), ...b }] : [];
  });
}

async function scanKeys(link: RedisLink, pattern: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await link.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0' && out.length < 100_000);
  return out;
}
