/**
 * Two-factor authentication for an account: enrolling an authenticator app, checking a second
 * factor (TOTP code or emergency code), turning it off, and the admin's reset. Shared by the
 * portal, the admin API and the CLI. Every change leaves an audit event; no secret ever does.
 */
import { appendAudit } from './audit.js';
import { checkEnrolCode, issueEnrolCode, spendEnrolCode, type EnrolCodeDeps } from './enrolcode.js';
import { emergencyCodesLeft, replaceEmergencyCodes, useEmergencyCode, type EmergencyDeps } from './emergency.js';
import type { EnforcePolicy } from './rollout.js';
import { isEnforced } from './enforcement.js';
import type { Identity } from './identity.js';
import type { ServerKeys } from './keys.js';
import { UsageError, type Manager } from './manage.js';
import { groupSecret, matchTotp, newTotpSecret, openSecret, sealSecret, totpUri } from './totp.js';
import type { Clock, Hasher, RandomBytes } from './types.js';
import type { Store } from '../store/types.js';

/** An enrolment not confirmed within this time must be started again (the QR code was on screen). */
const ENROLMENT_TTL_MS = 60 * 60_000;

export interface TwoFactorDeps {
  store: Store;
  hasher: Hasher;
  keys: ServerKeys;
  clock: Clock;
  random: RandomBytes;
  policy: EnforcePolicy;
  /** The one account name for a typed name (as the mail fronts use it) (core/identity.ts). */
  identity: Identity;
  manager: Pick<Manager, 'setEnforcement'>;
  /** Shown in authenticator apps next to the account name. */
  issuer: string;
  /** 'code': turning 2FA on without an authenticator in force needs an admin's enrolment code. Default 'open'. */
  firstEnrolment?: 'open' | 'code';
}

export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: number | null;
  codesLeft: number;
  codesTotal: number;
  /** Turning 2FA off is refused: the policy or an admin (not the user) requires it. */
  required: boolean;
}

export interface Actor {
  actor: string;
  ip?: string | null;
}

export type ConfirmResult =
  | { ok: true; codes: string[]; replaced: boolean }
  | { ok: false; reason: 'no-enrolment' | 'wrong-code' | 'enrol-code' };

export type VerifyResult =
  | { ok: true; method: 'totp' | 'emergency'; codesLeft: number }
  | { ok: false; reason: 'wrong-code' | 'replayed' | 'used-code' | 'not-enabled' };

/** Issuer shown in authenticator apps: the portal's host name, else "mailgate". */
export function issuerFor(publicUrl: string | null): string {
  try {
    return publicUrl ? new URL(publicUrl).hostname || 'mailgate' : 'mailgate';
  } catch {
    return 'mailgate';
  }
}

export function createTwoFactor(deps: TwoFactorDeps) {
  const { store, clock } = deps;
  const em: EmergencyDeps & EnrolCodeDeps = { store, hasher: deps.hasher, tagKey: deps.keys.tag, random: deps.random };
  const firstEnrolment = deps.firstEnrolment ?? 'open';
  const { identity } = deps;
  const key = (user: string): string => {
    const k = identity.canonical(user);
    if (!k) throw new UsageError(`not a valid account name: ${JSON.stringify(user)}`);
    return k;
  };
  const audit = (
    type: string,
    username: string,
    outcome: string,
    reason: string | null,
    who: Actor,
    detail: Record<string, unknown> = {},
  ) => appendAudit(store, clock, { type, username, ip: who.ip ?? null, outcome, reason, detail: { actor: who.actor, ...detail } });

  /**
   * Whether someone other than the user requires 2FA: the configured policy, or an admin's
   * enforcement override (the one the portal set when the user turned 2FA on does not count).
   * The owner is read from the account row, which the portal cannot overwrite.
   */
  async function required(k: string): Promise<boolean> {
    const row = await store.getAccount(k);
    if (row?.enforced === false) return false; // an admin's "never enforce" beats the policy
    if (isEnforced(deps.policy, null, k, clock.now())) return true;
    return row?.enforced === true && row.enforcedBy === 'admin';
  }

  /** Issues an enrolment code (replacing any earlier one), audited without the code. */
  async function issueCode(k: string, who: Actor, ttlMs?: number): Promise<{ code: string; expiresAt: number }> {
    const r = await issueEnrolCode(em, k, clock.now(), ttlMs);
    await audit('totp.enrol-code', k, 'ok', null, who, { action: 'issue', expiresAt: r.expiresAt });
    return r;
  }

  /** Checks a TOTP code against the secret in force and spends its step. */
  async function checkTotp(k: string, sealed: string, code: string): Promise<'ok' | 'wrong-code' | 'replayed'> {
    const step = matchTotp(openSecret(deps.keys.totp, k, sealed), code, clock.now());
    if (step === null) return 'wrong-code';
    return (await store.useTotpStep(k, step)) ? 'ok' : 'replayed';
  }

  return {
    issuer: deps.issuer,
    firstEnrolment,

    async status(user: string): Promise<TwoFactorStatus> {
      const k = key(user);
      const row = await store.getTotp(k);
      const codes = await emergencyCodesLeft(store, k);
      return {
        enabled: !!row?.secret,
        enabledAt: row?.enabledAt ?? null,
        codesLeft: codes.left,
        codesTotal: codes.total,
        required: await required(k),
      };
    },

    /** Starts (or restarts) enrolment with a fresh secret. Nothing changes until it is confirmed. */
    async beginEnrolment(user: string): Promise<{ secret: string; manualKey: string; uri: string; issuer: string }> {
      const k = key(user);
      const secret = newTotpSecret(deps.random);
      await store.setPendingTotp(k, sealSecret(deps.keys.totp, k, secret, deps.random), clock.now());
      return { secret, manualKey: groupSecret(secret), uri: totpUri(k, deps.issuer, secret), issuer: deps.issuer };
    },

    /** The secret being enrolled (to show the same QR code again after a wrong code), or null. */
    async pendingEnrolment(user: string): Promise<{ secret: string; manualKey: string; uri: string; issuer: string } | null> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.pendingSecret || row.pendingAt === null || clock.now() - row.pendingAt > ENROLMENT_TTL_MS) return null;
      const secret = openSecret(deps.keys.totp, k, row.pendingSecret);
      return { secret, manualKey: groupSecret(secret), uri: totpUri(k, deps.issuer, secret), issuer: deps.issuer };
    },

    /**
     * Confirms enrolment with a current code from the new app (and, with first_enrolment 'code'
     * and no authenticator in force yet, the admin's enrolment code). On success the secret is in
     * force, the account is enforced unless it has an override already (an admin's stays the
     * admin's) and a new set of emergency codes is returned, to be shown once.
     */
    async confirmEnrolment(user: string, code: string, who: Actor, enrolCode = ''): Promise<ConfirmResult> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.pendingSecret || row.pendingAt === null || clock.now() - row.pendingAt > ENROLMENT_TTL_MS)
        return { ok: false, reason: 'no-enrolment' };
      const replaced = row.secret !== null;
      // Moving to a new phone is done signed in with the old one: only a first enrolment needs the code.
      const needsCode = firstEnrolment === 'code' && !replaced;
      const codeCheck = needsCode ? await checkEnrolCode(em, k, enrolCode, clock.now()) : 'ok';
      if (codeCheck !== 'ok') {
        await audit('totp.enrol-code', k, 'reject', codeCheck, who, { action: 'use' });
        return { ok: false, reason: 'enrol-code' };
      }
      const step = matchTotp(openSecret(deps.keys.totp, k, row.pendingSecret), code, clock.now());
      if (step === null) {
        await audit('totp.enable', k, 'reject', 'wrong-code', who);
        return { ok: false, reason: 'wrong-code' };
      }
      // Spent before activation (compare-and-set): one code never turns 2FA on twice.
      if (needsCode && !(await spendEnrolCode(em, k, enrolCode, clock.now()))) {
        await audit('totp.enrol-code', k, 'reject', 'used', who, { action: 'use' });
        return { ok: false, reason: 'enrol-code' };
      }
      if (!(await store.activateTotp(k, row.pendingSecret, clock.now(), step))) {
        await audit('totp.enable', k, 'reject', 'superseded', who);
        return { ok: false, reason: 'no-enrolment' };
      }
      if (needsCode) await audit('totp.enrol-code', k, 'accept', null, who, { action: 'use' });
      await audit('totp.enable', k, 'ok', null, who, { replaced });
      // From now on the main password alone no longer opens mail apps. Any override already there
      // stays: an admin's (enforce, or "never enforce" for a service account) is the admin's.
      if (!replaced && ((await store.getAccount(k))?.enforced ?? null) === null) await deps.manager.setEnforcement(k, true, 'portal');
      const codes = replaced ? [] : await replaceEmergencyCodes(em, k, clock.now());
      if (!replaced) await audit('codes.generate', k, 'ok', null, who, { count: codes.length });
      return { ok: true, codes, replaced };
    },

    /** Checks a second factor: a 6-digit TOTP code, or else an unused emergency code. */
    async verify(user: string, input: string, who: Actor): Promise<VerifyResult> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.secret) return { ok: false, reason: 'not-enabled' };
      const isTotp = /^\d{6}$/.test(input.replace(/\s/g, ''));
      const r = isTotp ? await checkTotp(k, row.secret, input) : await useEmergencyCode(em, k, input, clock.now());
      const method = isTotp ? 'totp' : 'emergency';
      if (r !== 'ok') {
        const reason = r === 'used' ? 'used-code' : r === 'wrong' ? 'wrong-code' : r;
        await audit('2fa.verify', k, 'reject', reason, who, { method });
        return { ok: false, reason };
      }
      const { left } = await emergencyCodesLeft(store, k);
      await audit('2fa.verify', k, 'accept', null, who, { method, ...(method === 'emergency' ? { codesLeft: left } : {}) });
      return { ok: true, method, codesLeft: left };
    },

    /** Turns 2FA off with a current TOTP code; refused where someone else requires it. */
    async disable(
      user: string,
      code: string,
      who: Actor,
    ): Promise<{ ok: true } | { ok: false; reason: 'required' | 'wrong-code' | 'replayed' | 'not-enabled' }> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.secret) return { ok: false, reason: 'not-enabled' };
      if (await required(k)) return { ok: false, reason: 'required' };
      const r = await checkTotp(k, row.secret, code);
      if (r !== 'ok') {
        await audit('totp.disable', k, 'reject', r, who);
        return { ok: false, reason: r };
      }
      await store.deleteTotp(k);
      await store.replaceEmergencyCodes(k, [], clock.now());
      // Only the override the user's own enrolment set is undone; required() kept admins' out of here.
      if ((await store.getAccount(k))?.enforcedBy === 'portal') await deps.manager.setEnforcement(k, null, 'portal');
      await audit('totp.disable', k, 'ok', null, who);
      return { ok: true };
    },

    /** Replaces the emergency codes (the old set stops working at once); returns the new ones, once. */
    async regenerateCodes(user: string, who: Actor): Promise<string[]> {
      const k = key(user);
      if (!(await store.getTotp(k))?.secret)
        throw new UsageError(`two-factor authentication is not on for ${k}: emergency codes would not be usable`);
      const codes = await replaceEmergencyCodes(em, k, clock.now());
      await audit('codes.generate', k, 'ok', null, who, { count: codes.length });
      return codes;
    },

    /**
     * Admin reset for a lost phone: removes the authenticator and the emergency codes and ends the
     * account's portal sessions. Enforcement stays, so the mail apps keep working with their
     * passcodes; the user signs in with the main password and enrols again — with first_enrolment
     * 'code', with the fresh enrolment code returned here (once) to hand over.
     */
    async reset(
      user: string,
      who: Actor,
    ): Promise<{ removed: boolean; portalSessionsEnded: number; enrolCode?: { code: string; expiresAt: number } }> {
      const k = key(user);
      const removed = await store.deleteTotp(k);
      await store.replaceEmergencyCodes(k, [], clock.now());
      const portalSessionsEnded = await store.deletePortalSessionsOf(k);
      await audit('totp.reset', k, 'ok', null, who, { removed, portalSessionsEnded });
      if (!removed || firstEnrolment !== 'code') return { removed, portalSessionsEnded };
      return { removed, portalSessionsEnded, enrolCode: await issueCode(k, who) };
    },

    /**
     * Issues a one-time enrolment code for an account without an authenticator in force (it
     * replaces any earlier one); returned once, never stored or logged in clear.
     */
    async issueEnrolCode(user: string, who: Actor, ttlMs?: number): Promise<{ code: string; expiresAt: number }> {
      const k = key(user);
      if ((await store.getTotp(k))?.secret)
        throw new UsageError(
          `two-factor authentication is already on for ${k}: moving to a new phone needs no enrolment code (a lost phone: totp reset)`,
        );
      if (ttlMs !== undefined && !(ttlMs > 0)) throw new UsageError('an enrolment code needs a positive lifetime, e.g. 7d');
      return issueCode(k, who, ttlMs);
    },
  };
}

export type TwoFactor = ReturnType<typeof createTwoFactor>;
