/**
 * Checks in flight. The guard's delay policies are read before a password or code check and updated
 * after it; the check itself is awaited (an upstream IMAP login, a bcrypt), so a burst of
 * concurrent guesses all read "no failures yet" and all reach the upstream: 100 concurrent wrong
 * passwords made 100 upstream checks and no 429. A slot is therefore reserved synchronously,
 * before the first await, and released only once the answer — and the failure it recorded — is in.
 */
/** A key and how many checks may be in flight under it at once. */
export type Slot = readonly [key: string, limit: number];

export class InFlight {
  private readonly counts = new Map<string, number>();

  /** Takes one slot under every key, or none when any key is full; returns the release, or null. */
  acquire(slots: readonly Slot[]): (() => void) | null {
    if (slots.some(([key, limit]) => (this.counts.get(key) ?? 0) >= limit)) return null;
    for (const [key] of slots) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const [key] of slots) {
        const n = (this.counts.get(key) ?? 1) - 1;
        if (n > 0) this.counts.set(key, n);
        else this.counts.delete(key);
      }
    };
  }

  /** Keys with a check in flight (entries exist only while one is). */
  get size(): number {
    return this.counts.size;
  }
}
