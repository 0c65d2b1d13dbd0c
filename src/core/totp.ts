/**
 * TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s steps) for the portal's second factor: secret
 * generation, the otpauth:// URI that authenticator apps scan, code checking with ±1 step of
 * clock drift, and encryption of secrets at rest.
 *
 * Code checking is otplib's (the reference implementation most authenticator guides test
 * against), called through a fresh instance per check so the time comes from our injected clock
 * and no shared global options are mutated. The secret itself is generated here from the injected
 * randomness: otplib 12's own generator routes bytes through an ASCII string, which clears the
 * high bit of every byte (140 instead of 160 bits of entropy for a 20-byte secret).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { authenticator } from 'otplib';
import type { RandomBytes } from './types.js';

export const TOTP_STEP_MS = 30_000;
/** RFC 4226 §4 recommends 160-bit HMAC-SHA1 keys. */
const SECRET_BYTES = 20;
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (what authenticator apps expect in otpauth URIs). */
export function base32(bytes: Buffer): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** A fresh base32 secret. */
export function newTotpSecret(random: RandomBytes): string {
  return base32(random(SECRET_BYTES));
}

/** "JBSWY3DPEHPK3PXP…" → "JBSW Y3DP EHPK 3PXP …", for typing it into an app by hand. */
export function groupSecret(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

/** The otpauth:// URI (Google Authenticator key-URI format) shown as a QR code. */
export function totpUri(account: string, issuer: string, secret: string): string {
  return authenticator.keyuri(account, issuer, secret);
}

/** The time step of `now`. */
export function stepAt(now: number): number {
  return Math.floor(now / TOTP_STEP_MS);
}

/**
 * The time step whose code `code` is, within one step either side of `now`, or null.
 * Returning the step (not a boolean) is what makes the replay guard possible.
 */
export function matchTotp(secret: string, code: string, now: number): number | null {
  const digits = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(digits)) return null;
  const totp = authenticator.create({ ...authenticator.allOptions(), epoch: now, window: 1 });
  const delta = totp.checkDelta(digits, secret);
  return delta === null ? null : stepAt(now) + delta;
}

/** The current code (tests, and the demo's "what would my phone show" helper). */
export function totpCode(secret: string, now: number): string {
  return authenticator.create({ ...authenticator.allOptions(), epoch: now }).generate(secret);
}

/**
 * AES-256-GCM with a fresh 96-bit IV per secret. The account key is bound in as associated data,
 * so a row copied onto another account (by someone with write access to the database) does not
 * decrypt. Format: "v1.<iv>.<ciphertext>.<tag>" in base64url.
 */
export function sealSecret(key: Buffer, account: string, secret: string, random: RandomBytes): string {
  const iv = random(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(`totp\u0000${account}`));
  const ct = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return ['v1', iv, ct, c.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

/** Decrypts a sealed secret; throws if it was tampered with, moved, or sealed under another key. */
export function openSecret(key: Buffer, account: string, sealed: string): string {
  const [v, iv, ct, tag] = sealed.split('.');
  if (v !== 'v1' || !iv || ct === undefined || !tag) throw new Error('unknown TOTP secret format');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  d.setAAD(Buffer.from(`totp\u0000${account}`));
  d.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([d.update(Buffer.from(ct, 'base64url')), d.final()]).toString('utf8');
}
