/**
 * Verified-credential cache. Mail apps reconnect all day (and open several connections at once);
 * without this every reconnect would cost a bcrypt. Entries are keyed by an HMAC of
 * (account, secret) under a key that only lives in memory, hold only the passcode id, and are
 * dropped when that passcode is revoked. The store is still consulted on every hit, so a
 * revocation made by another process (the CLI) holds even before the entry is dropped.
 */
import { keyedHash } from './keys.js';
import { ttlMap } from './ttlmap.js';
import type { Clock } from './types.js';

export class VerifiedCache {
  private readonly entries;

  constructor(
    private readonly key: Buffer,
    private readonly ttlMs: number,
    clock: Clock,
    maxEntries = 100_000,
  ) {
    this.entries = ttlMap<{ passcodeId: string }>(clock, maxEntries, Math.max(0, ttlMs));
  }

  private k(account: string, normalized: string): string {
    return keyedHash(this.key, account, normalized);
  }

  /** The passcode id this (account, secret) verified as within the TTL, or null. */
  get(account: string, normalized: string): string | null {
    return this.entries.get(this.k(account, normalized))?.passcodeId ?? null;
  }

  /** Remembers a verified (account, secret); a TTL of 0 turns the cache off. */
  set(account: string, normalized: string, passcodeId: string): void {
    if (this.ttlMs <= 0) return;
    this.entries.set(this.k(account, normalized), { passcodeId });
  }

  /** Forgets every entry of a revoked passcode. */
  dropPasscode(passcodeId: string): void {
    const drop = [...this.entries.entries()].filter(([, e]) => e.passcodeId === passcodeId);
    for (const [k] of drop) this.entries.delete(k);
  }

  clear(): void {
    this.entries.clear();
  }
  get size(): number {
    return this.entries.size;
  }
}
