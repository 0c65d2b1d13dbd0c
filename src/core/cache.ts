/**
 * Verified-credential cache. Mail apps reconnect all day (and open several connections at once);
 * without this every reconnect would cost a bcrypt. Entries are keyed by an HMAC of
 * (account, secret) under a key that only lives in memory, hold only the passcode id, and are
 * dropped when that passcode is revoked. The store is still consulted on every hit, so a
 * revocation made by another process (the CLI) holds even before the entry is dropped.
 */
import { keyedHash } from './keys.js';
import type { Clock } from './types.js';

export class VerifiedCache {
  private readonly entries = new Map<string, { passcodeId: string; expires: number }>();

  constructor(private readonly key: Buffer, private readonly ttlMs: number, private readonly clock: Clock, private readonly maxEntries = 100_000) {}

  private k(account: string, normalized: string): string {
    return keyedHash(this.key, account, normalized);
  }

  get(account: string, normalized: string): string | null {
    const k = this.k(account, normalized);
    const e = this.entries.get(k);
    if (!e) return null;
    if (e.expires <= this.clock.now()) { this.entries.delete(k); return null; }
    return e.passcodeId;
  }

  set(account: string, normalized: string, passcodeId: string): void {
    if (this.ttlMs <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      // Map iterates in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(this.k(account, normalized), { passcodeId, expires: this.clock.now() + this.ttlMs });
  }

  dropPasscode(passcodeId: string): void {
    for (const [k, e] of this.entries) if (e.passcodeId === passcodeId) this.entries.delete(k);
  }

  clear(): void { this.entries.clear(); }
  get size(): number { return this.entries.size; }
}
