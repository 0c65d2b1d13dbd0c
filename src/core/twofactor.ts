/**
 * Two-factor authentication for an account: enrolling an authenticator app, checking a second
 * factor (TOTP code or emergency code), turning it off, and the admin's reset. Shared by the
 * portal, the admin API and the CLI. Every change leaves an audit event; no secret ever does.
 */
import { emergencyCodesLeft, replaceEmergencyCodes, useEmergencyCode, type EmergencyDeps } from './emergency.js';
import { isEnforced } from './enforcement.js';
import type { Identity } from './identity.js';
import type { ServerKeys } from './keys.js';
import { UsageError, type Manager } from './manage.js';
import { groupSecret, matchTotp, newTotpSecret, openSecret, sealSecret, totpUri } from './totp.js';
import type { Clock, Hasher, RandomBytes } from './types.js';
import type { PolicyConfig } from '../config/types.js';
import type { Store } from '../store/types.js';

/** An enrolment not confirmed within this time must be started again (the QR code was on screen). */
const ENROLMENT_TTL_MS = 60 * 60_000;

export interface TwoFactorDeps {
  store: Store;
  hasher: Hasher;
  keys: ServerKeys;
  clock: Clock;
  random: RandomBytes;
  policy: Pick<PolicyConfig, 'enforce'>;
  /** The one account name for a typed name (as the mail fronts use it) (core/identity.ts). */
  identity: Identity;
  manager: Pick<Manager, 'setEnforcement'>;
  /** Shown in authenticator apps next to the account name. */
  issuer: string;
}

export interface TwoFactorStatus {
  enabled: boolean;
  enabledAt: number | null;
  codesLeft: number;
  codesTotal: number;
  /** Turning 2FA off is refused: the policy or an admin (not the user) requires it. */
  required: boolean;
}

export interface Actor { actor: string; ip?: string | null }

export type VerifyResult =
  | { ok: true; method: 'totp' | 'emergency'; codesLeft: number }
  | { ok: false; reason: 'wrong-code' | 'replayed' | 'used-code' | 'not-enabled' };

/** Issuer shown in authenticator apps: the portal's host name, else "mailgate". */
export function issuerFor(publicUrl: string | null): string {
  try { return publicUrl ? new URL(publicUrl).hostname || 'mailgate' : 'mailgate'; } catch { return 'mailgate'; }
}

export function createTwoFactor(deps: TwoFactorDeps) {
  const { store, clock } = deps;
  const em: EmergencyDeps = { store, hasher: deps.hasher, tagKey: deps.keys.tag, random: deps.random };
  const { identity } = deps;
  const key = (user: string): string => {
    const k = identity.canonical(user);
    if (!k) throw new UsageError(`not a valid account name: ${JSON.stringify(user)}`);
    return k;
  };
  const audit = (type: string, username: string, outcome: string, reason: string | null, who: Actor, detail: Record<string, unknown> = {}) =>
    store.appendAudit({ ts: clock.now(), type, username, protocol: null, ip: who.ip ?? null, passcodeId: null, outcome, reason, sessionId: null, detail: { actor: who.actor, ...detail } });

  /**
   * Whether someone other than the user requires 2FA: the configured policy, or an admin's
   * enforcement override (one the portal set when the user turned 2FA on does not count).
   */
  async function required(k: string): Promise<boolean> {
    const override = (await store.getAccount(k))?.enforced ?? null;
    if (override === false) return false;
    if (isEnforced(deps.policy, null, k)) return true;
    if (override !== true) return false;
    const [last] = await store.queryAudit({ username: k, type: 'account.enforce', limit: 1 });
    return last?.detail?.actor !== 'portal';
  }

  /** Checks a TOTP code against the secret in force and spends its step. */
  async function checkTotp(k: string, sealed: string, code: string): Promise<'ok' | 'wrong-code' | 'replayed'> {
    const step = matchTotp(openSecret(deps.keys.totp, k, sealed), code, clock.now());
    if (step === null) return 'wrong-code';
    return (await store.useTotpStep(k, step)) ? 'ok' : 'replayed';
  }

  return {
    issuer: deps.issuer,

    async status(user: string): Promise<TwoFactorStatus> {
      const k = key(user);
      const row = await store.getTotp(k);
      const codes = await emergencyCodesLeft(store, k);
      return { enabled: !!row?.secret, enabledAt: row?.enabledAt ?? null, codesLeft: codes.left, codesTotal: codes.total, required: await required(k) };
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
     * Confirms enrolment with a current code from the new app. On success the secret is in force,
     * the account is enforced (unless an admin switched enforcement off for it) and a new set of
     * emergency codes is returned, to be shown once.
     */
    async confirmEnrolment(user: string, code: string, who: Actor): Promise<{ ok: true; codes: string[]; replaced: boolean } | { ok: false; reason: 'no-enrolment' | 'wrong-code' }> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.pendingSecret || row.pendingAt === null || clock.now() - row.pendingAt > ENROLMENT_TTL_MS) return { ok: false, reason: 'no-enrolment' };
      const step = matchTotp(openSecret(deps.keys.totp, k, row.pendingSecret), code, clock.now());
      if (step === null || !(await store.activateTotp(k, row.pendingSecret, clock.now(), step))) {
        await audit('totp.enable', k, 'reject', step === null ? 'wrong-code' : 'superseded', who);
        return { ok: false, reason: step === null ? 'wrong-code' : 'no-enrolment' };
      }
      const replaced = row.secret !== null;
      await audit('totp.enable', k, 'ok', null, who, { replaced });
      // From now on the main password alone no longer opens mail apps. An admin's explicit "never
      // enforce" (a service account, say) is left alone.
      if (!replaced && (await store.getAccount(k))?.enforced !== false) await deps.manager.setEnforcement(k, true, who.actor);
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
    async disable(user: string, code: string, who: Actor): Promise<{ ok: true } | { ok: false; reason: 'required' | 'wrong-code' | 'replayed' | 'not-enabled' }> {
      const k = key(user);
      const row = await store.getTotp(k);
      if (!row?.secret) return { ok: false, reason: 'not-enabled' };
      if (await required(k)) return { ok: false, reason: 'required' };
      const r = await checkTotp(k, row.secret, code);
      if (r !== 'ok') { await audit('totp.disable', k, 'reject', r, who); return { ok: false, reason: r }; }
      await store.deleteTotp(k);
      await store.replaceEmergencyCodes(k, [], clock.now());
      if ((await store.getAccount(k))?.enforced === true) await deps.manager.setEnforcement(k, null, who.actor);
      await audit('totp.disable', k, 'ok', null, who);
      return { ok: true };
    },

    /** Replaces the emergency codes (the old set stops working at once); returns the new ones, once. */
    async regenerateCodes(user: string, who: Actor): Promise<string[]> {
      const k = key(user);
      if (!(await store.getTotp(k))?.secret) throw new UsageError(`two-factor authentication is not on for ${k}: emergency codes would not be usable`);
      const codes = await replaceEmergencyCodes(em, k, clock.now());
      await audit('codes.generate', k, 'ok', null, who, { count: codes.length });
      return codes;
    },

    /**
     * Admin reset for a lost phone: removes the authenticator and the emergency codes and ends the
     * account's portal sessions. Enforcement stays, so the mail apps keep working with their
     * passcodes; the user signs in with the main password and enrols again.
     */
    async reset(user: string, who: Actor): Promise<{ removed: boolean; portalSessionsEnded: number }> {
      const k = key(user);
      const removed = await store.deleteTotp(k);
      await store.replaceEmergencyCodes(k, [], clock.now());
      const portalSessionsEnded = await store.deletePortalSessionsOf(k);
      await audit('totp.reset', k, 'ok', null, who, { removed, portalSessionsEnded });
      return { removed, portalSessionsEnded };
    },
  };
}

export type TwoFactor = ReturnType<typeof createTwoFactor>;
