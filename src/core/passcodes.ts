/**
 * Application passcodes: 16 random lowercase letters (26^16 ≈ 2^75), shown once grouped as
 * "abcd efgh ijkl mnop". On input, spaces, dashes and case are ignored, because people copy them
 * from a page or type them on a phone keyboard.
 */
import { keyedHash } from './keys.js';
import type { RandomBytes } from './types.js';

export const PASSCODE_LENGTH = 16;
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';

/** A fresh passcode (normalised form). Rejection sampling keeps every letter equally likely. */
export function generatePasscode(random: RandomBytes): string {
  let out = '';
  while (out.length < PASSCODE_LENGTH) {
    for (const b of random(32)) {
      if (b < 234 && out.length < PASSCODE_LENGTH) out += ALPHABET[b % 26]; // 234 = 9*26: unbiased
    }
  }
  return out;
}

/** "abcdefghijklmnop" → "abcd efgh ijkl mnop". */
export function formatPasscode(p: string): string {
  return p.replace(/(.{4})(?=.)/g, '$1 ');
}

/** The normalised passcode if the input has a passcode's shape, else null (e.g. a main password). */
export function normalizePasscode(input: string): string | null {
  if (input.length > 64) return null;
  const s = input.replace(/[\s-]/g, '').toLowerCase();
  return /^[a-z]{16}$/.test(s) ? s : null;
}

/**
 * Keyed lookup tag: lets a login find the one candidate passcode with an index lookup, so a login
 * costs at most one bcrypt and a wrong guess none. 64 bits: collisions between one account's
 * passcodes are negligible, and without the server key the tag says nothing about the passcode.
 */
export function passcodeTag(tagKey: Buffer, account: string, normalized: string): string {
  return keyedHash(tagKey, 'passcode', account, normalized).slice(0, 16);
}

/** Short identifier shown in listings and used to revoke. */
export function newPasscodeId(random: RandomBytes): string {
  return random(6).toString('hex');
}
