/**
 * The guard's atomic steps in Redis, as Lua scripts (one round trip each, and no other instance
 * can interleave between reading a count and deciding a block). They mirror AuthGuard's mail login
 * policy (core/guard.ts) step for step; times come from the caller's clock (ARGV now), TTLs are
 * Redis' own, so a block key disappears when its block ends — and survives a mailgate restart.
 *
 * Keys (under the prefix): b:SRC block "until:failures" (TTL = block duration); s:SRC hash
 * failures/forgiven/first (TTL = window, or until the block ends); seen:SRC the last 8 failure
 * fingerprints; sa:SRC failures per account; a:ACCOUNT failures/ceilingUntil; k:ACCOUNT
 * source → time of the last success; d:POLICY:KEY a named delay policy's failures/until.
 */
import type { Redis } from 'ioredis';

const FAILURE = `
local now = tonumber(ARGV[1])
local fp, account, src = ARGV[2], ARGV[3], ARGV[9]
local blockAfter, blockFor, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local knownMs, ceiling = tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'failures', 0, 'forgiven', 0, 'first', now)
  redis.call('PEXPIRE', KEYS[1], window)
end
local blocked = redis.call('GET', KEYS[4])
local blockedUntil = 0
if blocked then blockedUntil = tonumber(string.match(blocked, '^(%d+)')) end
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures'))
local forgiven = tonumber(redis.call('HGET', KEYS[1], 'forgiven'))
for _, seen in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if seen == fp then return {failures, forgiven, blockedUntil, 0, 0, 0} end
end
failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('LPUSH', KEYS[2], fp)
redis.call('LTRIM', KEYS[2], 0, 7)
redis.call('PEXPIRE', KEYS[2], window)
redis.call('HINCRBY', KEYS[3], account, 1)
redis.call('PEXPIRE', KEYS[3], window)
local newly = 0
if failures >= blockAfter and blockedUntil <= now then
  blockedUntil = now + blockFor
  redis.call('SET', KEYS[4], string.format('%d:%d', blockedUntil, failures), 'PX', blockFor)
  local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
  redis.call('PEXPIRE', KEYS[1], math.max(first + window, blockedUntil) - now)
  newly = 1
end
local ceilingUntil, newCeiling = 0, 0
if account ~= '' then
  local t = tonumber(redis.call('HGET', KEYS[6], src) or '-1')
  if not (t >= 0 and now - t < knownMs) then
    if redis.call('EXISTS', KEYS[5]) == 0 then
      redis.call('HSET', KEYS[5], 'failures', 0, 'ceilingUntil', 0)
      redis.call('PEXPIRE', KEYS[5], window)
    end
    local af = redis.call('HINCRBY', KEYS[5], 'failures', 1)
    ceilingUntil = tonumber(redis.call('HGET', KEYS[5], 'ceilingUntil'))
    if af >= ceiling and ceilingUntil <= now then
      ceilingUntil = now + window
      redis.call('HSET', KEYS[5], 'ceilingUntil', ceilingUntil)
      redis.call('PEXPIRE', KEYS[5], window)
      newCeiling = af
    end
  end
end
return {failures, forgiven, blockedUntil, newly, ceilingUntil, newCeiling}`;

// Also answers whether a success right after would change anything ("clean"): no failures of this
// source on this account to forgive (sa:SRC) and the source's last success on the account recent
// (younger than ARGV[4]), so the caller can skip SUCCESS (redis-guard.ts).
const CHECK = `
local b = redis.call('GET', KEYS[1]) or ''
local cu = tonumber(redis.call('HGET', KEYS[2], 'ceilingUntil') or '0')
local t = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '-1')
local now = tonumber(ARGV[1])
local known, clean = 0, 0
if t >= 0 and now - t < tonumber(ARGV[3]) then known = 1 end
local own = tonumber(redis.call('HGET', KEYS[4], ARGV[5]) or '0')
if own == 0 and t >= 0 and now - t < tonumber(ARGV[4]) then clean = 1 end
return {b, cu, known, clean}`;

const SUCCESS = `
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local own = tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0')
if own > 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'forgiven', own) end
redis.call('HDEL', KEYS[3], ARGV[3])
return own`;

// Re-sync after an outage: a block held locally goes back unless Redis already has a later one.
const MIRROR = `
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(string.match(cur, '^(%d+)')) >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', tonumber(ARGV[1]) - tonumber(ARGV[3]))
return 1`;

// A named delay policy's failure under one key (core/guard-delay.ts DelayCounter.fail).
const DELAY_FAIL = `
local now, free, base, max, forget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local f = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local w = 0
if f > free then w = math.min(max, base * 2 ^ math.min(f - free - 1, 30)) end
redis.call('HSET', KEYS[1], 'until', string.format('%d', now + w))
redis.call('PEXPIRE', KEYS[1], math.max(forget, w))
return w`;

type Reply<T> = Promise<T>;
/** The scripts as typed commands on a connection. */
export interface GuardCommands {
  mgFailure(s: string, seen: string, sa: string, b: string, a: string, k: string, ...argv: Array<string | number>): Reply<number[]>;
  mgCheck(
    b: string,
    a: string,
    k: string,
    sa: string,
    now: number,
    src: string,
    knownMs: number,
    freshMs: number,
    account: string,
  ): Reply<[string, number, number, number]>;
  mgSuccess(k: string, s: string, sa: string, now: number, src: string, account: string, knownMs: number): Reply<number>;
  mgMirror(b: string, until: number, failures: number, now: number): Reply<number>;
  mgDelayFail(key: string, now: number, free: number, base: number, max: number, forget: number): Reply<number>;
}

/** Registers the scripts (EVALSHA, loaded on first use and after a Redis restart by ioredis). */
export function defineGuardCommands(redis: Redis): Redis & GuardCommands {
  redis.defineCommand('mgFailure', { numberOfKeys: 6, lua: FAILURE });
  redis.defineCommand('mgCheck', { numberOfKeys: 4, lua: CHECK });
  redis.defineCommand('mgSuccess', { numberOfKeys: 3, lua: SUCCESS });
  redis.defineCommand('mgMirror', { numberOfKeys: 1, lua: MIRROR });
  redis.defineCommand('mgDelayFail', { numberOfKeys: 1, lua: DELAY_FAIL });
  return redis as Redis & GuardCommands;
}

/** "until:failures" as the block keys hold it. */
export function parseBlock(v: string | null): { until: number; failures: number } | null {
  const m = v ? /^(\d+):(\d+)$/.exec(v) : null;
  return m ? { until: Number(m[1]), failures: Number(m[2]) } : null;
}
