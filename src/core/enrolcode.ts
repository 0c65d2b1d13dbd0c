/**
 * One-time enrolment codes (`portal.first_enrolment: code`). Without one, whoever knows an
 * account's main password can turn on 2FA for it while its owner has none yet (rollout day, or
 * after a reset), mint passcodes and lock the owner out. With `code`, that first enrolment also
 * needs a code an admin hands to the owner out of band.
 * 12 characters from the emergency-code alphabet (60 bits), shown as "abcd-efgh-ijkm". Stored like
 * emergency codes: keyed lookup tag plus bcrypt hash (in the hash workers), one per account, a
 * new one replaces the old, each usable once, expiring (default 7 days).
 */
import { keyedHash } from './keys.js';
import type { Hasher, RandomBytes } from './types.js';
import type { Store } from '../store/types.js';

export const ENROL_CODE_TTL_MS = 7 * 86_400_000;
const LENGTH = 12;
const ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789'; // as emergency codes: 32 letters, no look-alikes

export interface EnrolCodeDeps {
  store: Store;
  hasher: Hasher;
  tagKey: Buffer;
  random: RandomBytes;
}

/** "abcdefghijkm" → "abcd-efgh-ijkm". */
export function formatEnrolCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** The normalised code if the input has an enrolment code's shape (spaces, dashes, case ignored), else null. */
export function normalizeEnrolCode(input: string): string | null {
  if (input.length > 40) return null;
  const s = input.replace(/[\s-]/g, '').toLowerCase();
  return s.length === LENGTH && [...s].every((c) => ALPHABET.includes(c)) ? s : null;
}

function tagOf(tagKey: Buffer, account: string, normalized: string): string {
  return keyedHash(tagKey, 'enrol', account, normalized).slice(0, 16);
}

/** Creates the account's code (replacing any earlier one); returns it formatted, once. */
export async function issueEnrolCode(
  deps: EnrolCodeDeps,
  account: string,
  at: number,
  ttlMs = ENROL_CODE_TTL_MS,
): Promise<{ code: string; expiresAt: number }> {
  const code = [...deps.random(LENGTH)].map((b) => ALPHABET[b & 31]).join('');
  const expiresAt = at + ttlMs;
  await deps.store.setEnrolCode({
    username: account,
    tag: tagOf(deps.tagKey, account, code),
    hash: await deps.hasher.hash(code),
    createdAt: at,
    expiresAt,
  });
  return { code: formatEnrolCode(code), expiresAt };
}

/** A bcrypt hash of nothing anyone knows, per hasher: wrong codes cost the same bcrypt as right ones. */
const decoys = new WeakMap<Hasher, Promise<string>>();
function decoyHash(deps: EnrolCodeDeps): Promise<string> {
  let h = decoys.get(deps.hasher);
  if (!h) {
    h = deps.hasher.hash(deps.random(16).toString('hex'));
    decoys.set(deps.hasher, h);
  }
  return h;
}

/**
 * Checks a code without spending it. A caller without the right code learns only 'wrong' —
 * whether a code exists, expired or was used is told apart only to its holder (and the audit).
 */
export async function checkEnrolCode(
  deps: EnrolCodeDeps,
  account: string,
  input: string,
  at: number,
): Promise<'ok' | 'wrong' | 'expired' | 'used'> {
  const normalized = normalizeEnrolCode(input);
  const row = await deps.store.getEnrolCode(account);
  const match = normalized !== null && row !== undefined && row.tag === tagOf(deps.tagKey, account, normalized);
  const ok = await deps.hasher.verify(normalized ?? '', match && row ? row.hash : await decoyHash(deps));
  if (!match || !row || !ok) return 'wrong';
  if (row.usedAt !== null) return 'used';
  return row.expiresAt <= at ? 'expired' : 'ok';
}

/** Spends a code checked with checkEnrolCode; false if it was spent (or expired) meanwhile. */
export async function spendEnrolCode(deps: EnrolCodeDeps, account: string, input: string, at: number): Promise<boolean> {
  const normalized = normalizeEnrolCode(input);
  return normalized !== null && deps.store.useEnrolCode(account, tagOf(deps.tagKey, account, normalized), at);
}
