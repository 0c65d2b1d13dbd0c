/**
 * Live sessions follow policy, not only revocation: within about one interval this ends
 *  - the sessions of a passcode that expired (each session knows its passcode's expiry),
 *  - the main-password (passthrough) sessions of an account that became enforced — by an admin
 *    override (CLI, API, portal, maybe in another process) or a policy reload — except those from
 *    the exempt networks, which the policy lets in with the main password anyway,
 *  - the sessions of a protocol removed from a passcode's scopes,
 *  - the main-password sessions of accounts whose rollout date (`from`) has just passed: the
 *    clock enforces them as a reload would (core/rollout.ts).
 *  - the sessions from outside the networks a passcode was limited to (`passcodes allow`).
 *
 * Changes made by another process arrive through the audit log (`account.enforce`,
 * `account.release`, `passcode.scope`, `passcode.allow`), as unblocks do: every admin action writes its event there
 * anyway, and the event names the one account or passcode to re-check, where polling the store
 * would mean re-reading every live session's account on every tick.
 */
import type { VerifiedCache } from './cache.js';
import type { EnforcePolicy } from './rollout.js';
import { isEnforced, type NetworkSet } from './enforcement.js';
import { datePassed } from './rollout.js';
import { fromAllowedNetwork } from './passcode-limits.js';
import { poller } from './poller.js';
import type { SessionRegistry } from './sessions.js';
import type { Clock } from './types.js';
import type { Store } from '../store/types.js';

export interface LivePolicyDeps {
  store: Store;
  sessions: SessionRegistry;
  cache: VerifiedCache;
  clock: Clock;
  /** The policy in force now (replaced on SIGHUP). */
  policy: () => { policy: EnforcePolicy; exempt: NetworkSet };
  intervalMs?: number;
  onError?: (e: Error) => void;
  /** Subscribes to pushes from other instances (src/shared/push.ts): poll at once, not at the next tick. */
  wake?: (listener: () => void) => void;
  /** Called before acting on a change found (the row cache forgets its rows: the next read is the store's). */
  onChange?: () => void;
}

export interface LivePolicy {
  /** Re-checks every account with a live main-password session (after a policy reload). */
  recheckAll(): Promise<number>;
  stop(): void;
}

const FOLLOWED = ['account.enforce', 'account.release', 'passcode.scope', 'passcode.allow'] as const;

/** Starts the watcher; see the file comment. */
export function watchLivePolicy(deps: LivePolicyDeps): LivePolicy {
  const { store, sessions, clock } = deps;
  const afterId = new Map<string, number>();
  let lastTick = clock.now();

  /** Ends the account's main-password sessions if the account is now enforced for them. */
  const recheckAccount = async (account: string): Promise<number> => {
    const live = sessions.list({ account }).filter((s) => s.passcodeId === null);
    if (live.length === 0) return 0;
    const { policy, exempt } = deps.policy();
    if (!isEnforced(policy, (await store.getAccount(account))?.enforced, account, clock.now())) return 0;
    return sessions.closeWhere((s) => s.account === account && s.passcodeId === null && !exempt.has(s.remoteIp), 'account now enforced');
  };

  /** Ends the passcode's sessions of protocols it no longer covers. */
  const recheckScopes = async (passcodeId: string): Promise<void> => {
    const row = await store.getPasscode(passcodeId);
    if (!row) return;
    deps.cache.dropPasscode(passcodeId);
    sessions.closeWhere((s) => s.passcodeId === passcodeId && !row.scopes.includes(s.protocol), 'passcode scope removed');
  };

  /** Ends the passcode's sessions from outside the networks it is now limited to. */
  const recheckNetworks = async (passcodeId: string): Promise<void> => {
    const row = await store.getPasscode(passcodeId);
    if (!row) return;
    deps.cache.dropPasscode(passcodeId);
    sessions.closeWhere((s) => s.passcodeId === passcodeId && !fromAllowedNetwork(row, s.remoteIp), 'passcode network removed');
  };

  const follow = async (): Promise<void> => {
    for (const type of FOLLOWED) {
      const last = afterId.get(type);
      if (last === undefined) {
        // Start after the newest event: what happened before this process started is moot.
        afterId.set(type, (await store.queryAudit({ limit: 1 })).at(-1)?.id ?? 0);
        continue;
      }
      const events = await store.queryAudit({ type, afterId: last, limit: 1000, oldestFirst: true });
      if (events.length) deps.onChange?.();
      for (const e of events) {
        afterId.set(type, Math.max(afterId.get(type) ?? 0, e.id ?? 0));
        if (type === 'passcode.scope' && e.passcodeId) await recheckScopes(e.passcodeId);
        else if (type === 'passcode.allow' && e.passcodeId) await recheckNetworks(e.passcodeId);
        else if (type.startsWith('account.') && e.username) await recheckAccount(e.username);
      }
    }
  };

  const poll = async (): Promise<void> => {
    const now = clock.now();
    sessions.closeWhere((s) => s.expiresAt != null && s.expiresAt <= now, 'passcode expired');
    const since = lastTick;
    lastTick = now;
    if (datePassed(deps.policy().policy.enforce, since, now)) await recheckAllAccounts();
    await follow();
  };
  /** Re-checks every account with a live main-password session. */
  async function recheckAllAccounts(): Promise<number> {
    const accounts = new Set(
      sessions
        .list()
        .filter((s) => s.passcodeId === null)
        .map((s) => s.account),
    );
    let closed = 0;
    for (const a of accounts) closed += await recheckAccount(a);
    return closed;
  }

  return {
    recheckAll: recheckAllAccounts,
    stop: poller(poll, { intervalMs: deps.intervalMs ?? 500, wake: deps.wake, onError: deps.onError }),
  };
}
