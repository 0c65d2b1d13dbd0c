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
}

export function deriveKeys(secret: Buffer): ServerKeys {
  if (secret.length < 32) throw new Error('the server secret must be at least 32 bytes');
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `mailgate ${info} v1`, 32));
  return Object.freeze({
    tag: derive('passcode-tag'),
    cache: derive('auth-cache'),
    totp: derive('totp-at-rest'),
    signinCsrf: derive('portal-signin-csrf'),
  });
}

/** HMAC-SHA256 over NUL-joined parts, hex. */
export function keyedHash(key: Buffer, ...parts: string[]): string {
  return createHmac('sha256', key).update(parts.join('\u0000')).digest('hex');
}
