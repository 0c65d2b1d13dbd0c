/**
 * Per-passcode limits (issue 14 part 5), pure: where a passcode may log in from (a CIDR allowlist
 * its owner or an admin sets), and when it lapses for want of use (`passcodes.expire_unused`): a
 * passcode forgotten on an old phone should not stay a way in for ever.
 */
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { NetworkSet } from './enforcement.js';
import type { PasscodeRow } from '../store/types.js';

/** How long before an unused passcode lapses its owner is told (core/notify.ts). */
export const UNUSED_WARNING_MS = 7 * 86_400_000;
/** More networks than anyone types by hand; keeps the stored list and the check small. */
const MAX_NETWORKS = 32;

/**
 * Whether a passcode still opens anything at `now`: revoked, expired (its expiry or, with
 * `passcodes.expire_unused`, its unused deadline has passed) or active. The one rule the login,
 * the manager's views and the rollout report share.
 */
export function passcodeStatus(
  row: Pick<PasscodeRow, 'revokedAt' | 'expiresAt' | 'lastUsedAt' | 'createdAt'>,
  now: number,
  expireUnusedMs: number | null,
): 'active' | 'revoked' | 'expired' {
  if (row.revokedAt !== null) return 'revoked';
  const lapse = unusedDeadline(row, expireUnusedMs);
  if ((row.expiresAt !== null && row.expiresAt <= now) || (lapse !== null && lapse <= now)) return 'expired';
  return 'active';
}

/** When the passcode lapses for want of use (null: expire_unused is off). */
export function unusedDeadline(row: Pick<PasscodeRow, 'lastUsedAt' | 'createdAt'>, expireUnusedMs: number | null): number | null {
  return expireUnusedMs === null ? null : (row.lastUsedAt ?? row.createdAt) + expireUnusedMs;
}

/**
 * Each allowlist's matcher, built once per list: it is asked on every login with that passcode and
 * for every live session at each policy change, and building one (a BlockList, a subnet per entry)
 * costs more than the match. Keyed by the list itself; bounded by the passcodes in use.
 */
const matchers = new LRUCache<string, NetworkSet>({ max: 10_000 });

/** True when the passcode may be used from `ip` (no allowlist: from anywhere). */
export function fromAllowedNetwork(row: Pick<PasscodeRow, 'allowedNetworks'>, ip: string): boolean {
  const nets = row.allowedNetworks;
  if (!nets?.length) return true;
  const key = nets.join(',');
  let set = matchers.get(key);
  if (!set) {
    set = new NetworkSet(nets);
    matchers.set(key, set);
  }
  return set.has(ip);
}

/**
 * Checks a typed allowlist ("192.0.2.0/24, 2001:db8::/32", a bare address is one host) and
 * returns it normalised; throws a message meant for the user otherwise. Never echoes more than
 * the one bad entry.
 */
export function parseNetworks(input: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of input.flatMap((s) => s.split(/[\s,]+/)).filter(Boolean)) {
    const [addr = '', bits, extra] = raw.split('/');
    const fam = isIP(addr);
    const max = fam === 6 ? 128 : 32;
    if (fam === 0 || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= max))) {
      throw new Error(`not a network like 192.0.2.0/24 or 2001:db8::/32: ${JSON.stringify(raw.slice(0, 60))}`);
    }
    out.push(`${addr.toLowerCase()}/${bits ?? max}`);
  }
  if (out.length === 0) throw new Error('give at least one network (or allow it from anywhere)');
  if (out.length > MAX_NETWORKS) throw new Error(`at most ${MAX_NETWORKS} networks per passcode`);
  return [...new Set(out)];
}
