/**
 * Administrative actions on accounts and passcodes, shared by the CLI, the admin API and the
 * portal. Every action leaves an audit event; no secret ever does.
 */
import { appendAudit } from './audit.js';
import type { VerifiedCache } from './cache.js';
import type { EnforcePolicy } from './rollout.js';
import { isEnforced } from './enforcement.js';
import type { Identity } from './identity.js';
import type { ServerKeys } from './keys.js';
import { formatPasscode, generatePasscode, newPasscodeId, passcodeTag } from './passcodes.js';
import { fromAllowedNetwork, parseNetworks, passcodeStatus, unusedDeadline } from './passcode-limits.js';
import type { LiveSession, SessionRegistry } from './sessions.js';
import type { Clock, Hasher, Protocol, RandomBytes } from './types.js';
import { PROTOCOLS, type AccountRow, type OverrideOwner, type PasscodeRow, type Store } from '../store/types.js';

export interface ManageDeps {
  store: Store;
  hasher: Hasher;
  keys: ServerKeys;
  clock: Clock;
  random: RandomBytes;
  policy: EnforcePolicy;
  /** The one account name for a typed name (as the mail fronts use it) (core/identity.ts). */
  identity: Identity;
  /** Present in the serving process: revocation then also drops cache entries and live sessions. */
  cache?: VerifiedCache;
  sessions?: SessionRegistry;
  /** passcodes.expire_unused (null/absent: off), for the status and lapse date shown. */
  expireUnusedMs?: number | null;
}

export class UsageError extends Error {}

export interface AccountView {
  username: string;
  enforced: boolean;
  override: boolean | null;
  /** Who set the override: 'admin' (CLI, API) or 'portal' (the user turned 2FA on); null without one. */
  enforcedBy: OverrideOwner | null;
  passcodes: number;
  activePasscodes: number;
}

/** The owner an actor's override gets: only the portal's is the user's own, everyone else is an admin. */
export const ownerOf = (actor: string): OverrideOwner => (actor === 'portal' ? 'portal' : 'admin');

/**
 * A passcode as shown to admins and users: everything but the hash and tag. `unusedExpiresAt`:
 * when it lapses unless used before (passcodes.expire_unused; null when that is off).
 */
export type PasscodeView = Omit<PasscodeRow, 'hash' | 'tag'> & {
  status: 'active' | 'revoked' | 'expired';
  unusedExpiresAt: number | null;
};

export function createManager(deps: ManageDeps) {
  const { store, clock } = deps;
  const { identity } = deps;
  const key = (user: string): string => {
    const k = identity.canonical(user);
    if (!k) throw new UsageError(`not a valid account name: ${JSON.stringify(user)}`);
    return k;
  };
  const audit = (
    type: string,
    username: string,
    passcodeId: string | null,
    detail: Record<string, unknown> | null,
    actor: string,
    ip: string | null = null,
  ) => appendAudit(store, clock, { type, username, ip, passcodeId, outcome: 'ok', detail: { actor, ...detail } });

  const view = (row: PasscodeRow): PasscodeView => {
    const { hash: _h, tag: _t, ...rest } = row;
    const unusedExpiresAt = unusedDeadline(row, deps.expireUnusedMs ?? null);
    const status = passcodeStatus(row, clock.now(), deps.expireUnusedMs ?? null);
    return { ...rest, allowedNetworks: row.allowedNetworks ?? null, status, unusedExpiresAt };
  };

  async function accountView(username: string, row?: AccountRow): Promise<AccountView> {
    const list = await store.listPasscodes(username);
    const override = row?.enforced ?? null;
    return {
      username,
      override,
      enforcedBy: row?.enforcedBy ?? null,
      enforced: isEnforced(deps.policy, override, username, clock.now()),
      passcodes: list.length,
      activePasscodes: list.filter((p) => view(p).status === 'active').length,
    };
  }

  return {
    /** `passcodes.expire_unused` as this manager applies it (the rollout report counts the same way). */
    expireUnusedMs: deps.expireUnusedMs ?? null,
    async listAccounts(): Promise<AccountView[]> {
      return Promise.all((await store.listAccounts()).map((a) => accountView(a.username, a)));
    },
    async showAccount(user: string): Promise<AccountView & { passcodeList: PasscodeView[] }> {
      const k = key(user);
      const a = await accountView(k, await store.getAccount(k));
      return { ...a, passcodeList: (await store.listPasscodes(k)).map(view) };
    },
    /**
     * enforced: true/false sets the override, null returns the account to the policy. The actor
     * decides the owner (ownerOf); the portal's write is skipped (no audit event) where an admin's
     * override stands.
     */
    async setEnforcement(user: string, enforced: boolean | null, actor = 'cli'): Promise<AccountView> {
      const k = key(user);
      const by = ownerOf(actor);
      if (await store.setEnforcement(k, enforced, clock.now(), by)) {
        await audit(
          enforced === null ? 'account.release' : 'account.enforce',
          k,
          null,
          { enforced, owner: enforced === null ? null : by },
          actor,
        );
      }
      return accountView(k, await store.getAccount(k));
    },
    /**
     * Creates a passcode; the clear passcode is returned once and never stored. `by` is the actor,
     * or the actor and the address it acted from (shown to the owner in the security notice).
     */
    async createPasscode(
      user: string,
      opts: { name: string; scopes: Protocol[]; expiresAt?: number | null; allowedNetworks?: string[] | null },
      by: string | { actor: string; ip?: string | null } = 'cli',
    ) {
      const { actor, ip = null } = typeof by === 'string' ? { actor: by } : by;
      const k = key(user);
      const name = checkName(opts.name);
      const allowedNetworks = opts.allowedNetworks ? networks(opts.allowedNetworks) : null;
      if (opts.scopes.length === 0) throw new UsageError('a passcode needs at least one scope (imap, smtp, pop3)');
      const passcode = generatePasscode(deps.random);
      const now = clock.now();
      const row: PasscodeRow = {
        id: newPasscodeId(deps.random),
        username: k,
        name,
        scopes: [...new Set(opts.scopes)],
        tag: passcodeTag(deps.keys.tag, k, passcode),
        hash: await deps.hasher.hash(passcode),
        createdAt: now,
        expiresAt: opts.expiresAt ?? null,
        revokedAt: null,
        lastUsedAt: null,
        lastUsedIp: null,
        lastUsedClient: null,
        allowedNetworks,
      };
      await store.insertPasscode(row);
      const limits = allowedNetworks ? { allowedNetworks } : {};
      await audit('passcode.create', k, row.id, { name, scopes: row.scopes, expiresAt: row.expiresAt, ...limits }, actor, ip);
      return { passcode, formatted: formatPasscode(passcode), info: view(row) };
    },
    async listPasscodes(user: string): Promise<PasscodeView[]> {
      return (await store.listPasscodes(key(user))).map(view);
    },
    /** Revokes at once; in the serving process also ends the passcode's live sessions. */
    async revokePasscode(user: string, id: string, actor = 'cli'): Promise<{ revoked: boolean; sessionsClosed: number }> {
      const k = key(user);
      const revoked = await store.revokePasscode(k, id, clock.now());
      if (!revoked) return { revoked, sessionsClosed: 0 };
      deps.cache?.dropPasscode(id);
      // Counted before closing, across every worker (count() adds theirs); each worker closes its own.
      const sessionsClosed = deps.sessions?.count({ passcodeId: id }) ?? 0;
      deps.sessions?.closeByPasscode(id, 'passcode revoked');
      await audit('passcode.revoke', k, id, { sessionsClosed }, actor);
      return { revoked, sessionsClosed };
    },
    /**
     * Replaces a passcode's scopes; in the serving process also ends its live sessions of the
     * protocols it no longer covers (another process's change arrives through the audit event).
     */
    async setPasscodeScopes(
      user: string,
      id: string,
      scopes: Protocol[],
      actor = 'cli',
    ): Promise<{ updated: boolean; sessionsClosed: number }> {
      const k = key(user);
      const list = [...new Set(scopes)];
      if (list.length === 0 || !list.every((s) => PROTOCOLS.includes(s)))
        throw new UsageError(`scopes must be a non-empty list of ${PROTOCOLS.join(', ')}`);
      const updated = await store.setPasscodeScopes(k, id, list);
      if (!updated) return { updated, sessionsClosed: 0 };
      deps.cache?.dropPasscode(id);
      const sessionsClosed =
        deps.sessions?.closeWhere((s) => s.passcodeId === id && !list.includes(s.protocol), 'passcode scope removed') ?? 0;
      await audit('passcode.scope', k, id, { scopes: list, sessionsClosed }, actor);
      return { updated, sessionsClosed };
    },
    /** Renames an unrevoked passcode (the name is what its owner recognises it by). */
    async renamePasscode(user: string, id: string, name: string, actor = 'cli'): Promise<{ updated: boolean }> {
      const k = key(user);
      const clean = checkName(name);
      const updated = await store.updatePasscode(k, id, { name: clean });
      if (updated) await audit('passcode.rename', k, id, { name: clean }, actor);
      return { updated };
    },
    /**
     * Limits an unrevoked passcode to networks (CIDR; null: from anywhere again). In the serving
     * process its live sessions from elsewhere end at once; new logins follow the list everywhere.
     */
    async setPasscodeNetworks(
      user: string,
      id: string,
      list: string[] | null,
      actor = 'cli',
    ): Promise<{ updated: boolean; sessionsClosed: number }> {
      const k = key(user);
      const allowedNetworks = list === null ? null : networks(list);
      const updated = await store.updatePasscode(k, id, { allowedNetworks });
      if (!updated) return { updated, sessionsClosed: 0 };
      deps.cache?.dropPasscode(id);
      const elsewhere = (s: LiveSession) => s.passcodeId === id && !fromAllowedNetwork({ allowedNetworks }, s.remoteIp);
      const sessionsClosed = deps.sessions?.closeWhere(elsewhere, 'passcode network removed') ?? 0;
      await audit('passcode.allow', k, id, { allowedNetworks, sessionsClosed }, actor);
      return { updated, sessionsClosed };
    },
  };
}

function checkName(name: string): string {
  const n = name.trim();
  if (!n || n.length > 100) throw new UsageError('a passcode needs a name of 1 to 100 characters (e.g. "Thunderbird laptop")');
  return n;
}

function networks(list: string[]): string[] {
  try {
    return parseNetworks(list);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export type Manager = ReturnType<typeof createManager>;
