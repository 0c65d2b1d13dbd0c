/**
 * Forms that act once, and secrets shown once. A double click posts a form twice; a reload of the
 * page a POST answered posts it again. Both used to act twice: 2FA turned on, then "setup took too
 * long" over the emergency codes; two passcodes made, one shown; a reload of the codes page
 * killed the printed set. So:
 * - every acting form carries a random `_once` token; the first POST with it acts, and any repeat
 *   (in flight or after) gets the first one's answer: the same redirect, never a second act;
 * - the answer is a 303 (POST-redirect-GET) to a page that reads the secrets from a one-time
 *   "reveal": the first GET shows them and deletes them, a reload says they were shown already.
 * Both live in memory only (bounded, with a TTL): a restart forgets a pending token or a secret
 * not yet shown, which costs the user one retry, and keeps secrets out of the store.
 */
import { randomBytes } from 'node:crypto';
import type { LRUCache } from 'lru-cache';
import { ttlMap } from '../core/ttlmap.js';
import type { Clock } from '../core/types.js';

/** Where a POST sends the browser, with the headers it must carry (a rotated session cookie). */
export interface Answer {
  path: string;
  headers?: Record<string, string | string[]>;
}

interface Pending {
  answer: Promise<unknown>;
}

interface Reveal {
  user: string;
  kind: string;
  data: unknown;
}

const TOKEN = /^[A-Za-z0-9_-]{16,64}$/;
const TTL_MS = 10 * 60_000;

export class OnceForms {
  private readonly acted: LRUCache<string, Pending>;
  private readonly reveals: LRUCache<string, Reveal>;

  constructor(clock: Clock, max = 10_000) {
    this.acted = ttlMap<Pending>(clock, max, TTL_MS);
    this.reveals = ttlMap<Reveal>(clock, max, TTL_MS);
  }

  /** A fresh token for a form (no state until it is posted). */
  static token(): string {
    return randomBytes(18).toString('base64url');
  }

  /**
   * Runs `act` once per (account, token): a repeat waits for and returns the first answer. Without
   * a well-formed token (an old page, a script) it just acts. A failed act can be retried.
   */
  async run<T>(user: string, token: string | null, act: () => Promise<T>): Promise<T> {
    if (!token || !TOKEN.test(token)) return act();
    const key = `${user}\u0000${token}`;
    const seen = this.acted.get(key);
    if (seen) return seen.answer as Promise<T>;
    // Set before the first await: a second POST arriving meanwhile finds it.
    const answer = act();
    this.acted.set(key, { answer });
    answer.catch(() => this.acted.delete(key));
    return answer;
  }

  /** Keeps `data` for one `take` by the same account; returns its id. */
  keep(user: string, kind: string, data: unknown): string {
    const id = randomBytes(18).toString('base64url');
    this.reveals.set(id, { user, kind, data });
    return id;
  }

  /** The data kept under `id` for this account and kind, deleted on the way out; null if gone. */
  take<T>(user: string, kind: string, id: string | null): T | null {
    if (!id) return null;
    const r = this.reveals.get(id);
    if (!r || r.user !== user || r.kind !== kind) return null;
    this.reveals.delete(id);
    return r.data as T;
  }
}
