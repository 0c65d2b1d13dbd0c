/**
 * Keys derived from the one server secret (HKDF-SHA256), one per purpose, so that a leak of one
 * derived key (e.g. in a heap dump of a worker) does not expose the others.
 */
import { createHmac, hkdfSync } from 'node:crypto';

export interface ServerKeys {
  /** Passcode lookup tags stored in the database. */
  readonly tag: Buffer;
  /** Verified-credential cache keys (in memory only). */
  readonly cache: Buffer;
  /** Encryption of TOTP secrets at rest. */
  readonly totp: Buffer;
  /** The portal's sign-in form token (csrf.ts): the same on every instance behind one balancer. */
  readonly signinCsrf: Buffer;
  /** The root of the TLS session-ticket keys (ticketKeysAt): the same on every worker and instance. */
  readonly tlsTickets: Buffer;
}

export function deriveKeys(secret: Buffer): ServerKeys {
  if (secret.length < 32) throw new Error('the server secret must be at least 32 bytes');
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `mailgate ${info} v1`, 32));
  return Object.freeze({
    tag: derive('passcode-tag'),
    cache: derive('auth-cache'),
    totp: derive('totp-at-rest'),
    signinCsrf: derive('portal-signin-csrf'),
    tlsTickets: derive('tls-session-tickets'),
  });
}

/**
 * How long one set of TLS session-ticket keys is used. A mail app resumes its TLS session with a
 * ticket instead of a full handshake (no certificate signature, one round trip less); with keys of
 * its own in every `serve` worker (OpenSSL's default: random per process) a ticket resumed only on
 * the worker that issued it, and on no other instance behind a balancer. Keys derived from the
 * server secret and the period are the same everywhere and change every period — a TLS 1.2 ticket
 * holds the session's master secret, so its key must not live for ever.
 */
export const TICKET_PERIOD_MS = 12 * 3600_000;

/** The 48 bytes of session-ticket keys (name, HMAC, AES) for the period that holds `nowMs`. */
export function ticketKeysAt(root: Buffer, nowMs: number): Buffer {
  const period = Math.floor(nowMs / TICKET_PERIOD_MS);
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `mailgate tls tickets period ${period}`, 48));
}

/** HMAC-SHA256 over NUL-joined parts, hex. */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  return createHmac('sha256', key).update(parts.join('\u0000')).digest('hex');
}
