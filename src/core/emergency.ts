/**
 * One-time emergency codes: the way in when the phone with the authenticator app is lost.
 * A set of 10, each 10 characters from a 32-letter alphabet without look-alikes (no 0/o, 1/l),
 * i.e. 50 bits, shown once as "abcde-fghij". Stored like passcodes: a keyed lookup tag plus a
 * bcrypt hash, so checking one costs one bcrypt and a stolen database reveals none.
 */
import { keyedHash } from './keys.js';
import type { Hasher, RandomBytes } from './types.js';
import type { Store } from '../store/types.js';

export const EMERGENCY_CODE_COUNT = 10;
const LENGTH = 10;
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // 32: each random byte gives 5 unbiased bits

/** One fresh code, normalised (no dash). */
export function generateEmergencyCode(random: RandomBytes): string {
  return [...random(LENGTH)].map((b) => ALPHABET[b & 31]).join('');
}

/** "abcdefghij" → "abcde-fghij". */
export function formatEmergencyCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** The normalised code if the input has an emergency code's shape (spaces, dashes, case ignored), else null. */
export function normalizeEmergencyCode(input: string): string | null {
  if (input.length > 40) return null;
  const s = input.replace(/[\s-]/g, '').toLowerCase();
  return s.length === LENGTH && [...s].every((c) => ALPHABET.includes(c)) ? s : null;
}

export function emergencyTag(tagKey: Buffer, account: string, normalized: string): string {
  return keyedHash(tagKey, 'emergency', account, normalized).slice(0, 16);
}

export interface EmergencyDeps {
  store: Store;
  hasher: Hasher;
  tagKey: Buffer;
  random: RandomBytes;
}

/** Creates a new set for `account`, replacing the old one at once; returns the codes formatted, once. */
export async function replaceEmergencyCodes(deps: EmergencyDeps, account: string, at: number): Promise<string[]> {
  const codes = new Set<string>();
  while (codes.size < EMERGENCY_CODE_COUNT) codes.add(generateEmergencyCode(deps.random));
  const rows = await Promise.all(
    [...codes].map(async (c) => ({ tag: emergencyTag(deps.tagKey, account, c), hash: await deps.hasher.hash(c) })),
  );
  await deps.store.replaceEmergencyCodes(account, rows, at);
  return [...codes].map(formatEmergencyCode);
}

/** How many unused codes `account` has left, of how many. */
export async function emergencyCodesLeft(store: Store, account: string): Promise<{ left: number; total: number }> {
  const rows = await store.listEmergencyCodes(account);
  return { left: rows.filter((r) => r.usedAt === null).length, total: rows.length };
}

/**
 * Uses a code: 'ok' the first time, 'used' for a code already spent (so the user can be told so),
 * 'wrong' for anything else.
 */
export async function useEmergencyCode(deps: EmergencyDeps, account: string, input: string, at: number): Promise<'ok' | 'used' | 'wrong'> {
  const normalized = normalizeEmergencyCode(input);
  if (normalized === null) return 'wrong';
  const tag = emergencyTag(deps.tagKey, account, normalized);
  const row = (await deps.store.listEmergencyCodes(account)).find((r) => r.tag === tag);
  if (!row || !(await deps.hasher.verify(normalized, row.hash))) return 'wrong';
  if (row.usedAt !== null) return 'used';
  // Marking used is a compare-and-set: two sign-ins racing with one code cannot both pass.
  return (await deps.store.useEmergencyCode(account, row.id, at)) ? 'ok' : 'used';
}
