/** Types shared by the policy core and the protocol fronts. The core knows no wire format. */
import type { Protocol } from '../store/types.js';
export type { Protocol } from '../store/types.js';

/** Injected so the core is testable without waiting or global mocks. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

/** Injected randomness (crypto.randomBytes in production). */
export type RandomBytes = (n: number) => Buffer;

/** bcrypt off the event loop: implemented by runtime/hasher.ts (@node-rs/bcrypt on niced worker threads). */
export interface Hasher {
  hash(secret: string): Promise<string>;
  verify(secret: string, hash: string): Promise<boolean>;
  close(): Promise<void>;
}

export interface AuthRequest {
  /** As the client typed it; the core makes it canonical (Decision.account), and only that is used after. */
  user: string;
  secret: string;
  protocol: Protocol;
  remoteIp: string;
  /** Client name/version from IMAP ID or EHLO name, if known; for "last used". */
  clientId?: string | null;
  sessionId?: string | null;
}

export type RejectReason =
  | 'not-a-passcode' // enforced account, secret is not passcode-shaped (usually the main password)
  | 'unknown-passcode' // passcode-shaped but matches none of the account's passcodes
  | 'revoked'
  | 'expired'
  | 'wrong-scope'
  | 'network-not-allowed' // a right passcode, from outside the networks its owner allowed it
  | 'malformed' // a name that is not an account here (empty, bad characters, a domain not served), NUL bytes, over-long input
  | 'throttled';

/** `account` is the canonical account name (core/identity.ts): the name the front logs in upstream with. */
export type Decision =
  /** expiresAt: the passcode's expiry, so its live sessions can end then (core/livepolicy.ts). */
  | { kind: 'accept-passcode'; account: string; passcodeId: string; cached: boolean; expiresAt: number | null }
  | { kind: 'passthrough'; account: string; reason: 'not-enforced' | 'exempt-network' | 'observe' }
  /**
   * delayMs: how long the front waits before answering (throttling; 0 for a blocked source).
   * hint: what the front may tell the client about the refusal (core/refusal.ts).
   */
  | { kind: 'reject'; account: string; reason: RejectReason; delayMs: number; hint?: RefusalHint };

/**
 * 'needs-passcode': the account is under enforcement, so only an app passcode logs in. Given by the
 * policy alone — never by whether the password was right or the account exists — so it tells a
 * guesser nothing the policy (often a whole domain) does not already say.
 */
export type RefusalHint = 'needs-passcode';
