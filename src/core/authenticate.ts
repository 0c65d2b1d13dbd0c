/**
 * The one place that decides whether a mail login is accepted. Fronts (IMAP, SMTP, POP3, portal)
 * call authenticate() and translate the typed Decision into their own protocol's words.
 *
 * Cost model: a wrong guess costs an index lookup (the keyed tag does not match) and no bcrypt;
 * a right passcode costs one bcrypt (off the event loop) and then nothing while it is cached.
 */
import { appendAudit } from './audit.js';
import type { VerifiedCache } from './cache.js';
import type { Observer } from './observe.js';
import { type EnforcePolicy, type ModeAt, modeAt } from './rollout.js';
import type { NetworkSet } from './enforcement.js';
import type { Identity } from './identity.js';
import type { Guard } from './guard-port.js';
import { keyedHash, type ServerKeys } from './keys.js';
import { fromAllowedNetwork, passcodeStatus } from './passcode-limits.js';
import { normalizePasscode, passcodeTag } from './passcodes.js';
import type { AuthRequest, Clock, Decision, Hasher, RejectReason } from './types.js';
import type { PasscodeRow, Store } from '../store/types.js';

const MAX_SECRET_BYTES = 1024;
const LAST_USED_PRECISION_MS = 60_000;
/**
 * The refusals that reach only an enforced account, whatever secret was tried: these may say "this
 * account needs an app passcode" (RefusalHint). Throttled, malformed and a passcode used from
 * outside its allowed networks keep the plain failure.
 */
const HINTED: ReadonlySet<RejectReason> = new Set<RejectReason>([
  'not-a-passcode',
  'unknown-passcode',
  'revoked',
  'expired',
  'wrong-scope',
]);

/** A proven passcode: its row, whether it came from the cache, what keeps it from being used. */
interface Found {
  row: PasscodeRow;
  cachedId: string | null;
  problem: RejectReason | null;
}

export interface AuthenticatorDeps {
  store: Store;
  hasher: Hasher;
  keys: ServerKeys;
  policy: EnforcePolicy;
  exempt: NetworkSet;
  cache: VerifiedCache;
  clock: Clock;
  /** Brute-force defence: blocked sources are refused before any work; failures are delayed. */
  guard: Guard;
  /** Turns the typed name into the one account name (core/identity.ts). */
  identity: Identity;
  /** Records main-password logins of observed accounts ("would break", core/observe.ts). */
  observer?: Observer;
  /** passcodes.expire_unused: a passcode unused this long is refused as expired (null/absent: off). */
  expireUnusedMs?: number | null;
  /**
   * Where the login path's audit events and passcode last-use go: the store itself, or a batcher
   * in front of it (store/write-batch.ts) that commits them once per tick.
   */
  writes?: Pick<Store, 'appendAudit' | 'recordPasscodeUse'>;
  /** Called when the audit log cannot be written; authentication itself goes on. */
  onAuditError?: (err: Error) => void;
}

export interface Authenticator {
  authenticate(req: AuthRequest): Promise<Decision>;
  /** Replaces the enforcement policy (SIGHUP reload); decisions after the call use the new one. */
  setPolicy(policy: EnforcePolicy, exempt: NetworkSet): void;
  /**
   * Records what the upstream said about a passthrough login (it checks the main password), so
   * the guard counts it; returns how long after the login command to answer a failure — the
   * same delay as for a refused passcode, so the answer time does not tell the two apart.
   */
  recordUpstreamResult(req: AuthRequest, ok: boolean, detail?: string): Promise<number>;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const { store, hasher, keys, cache, clock } = deps;
  const { identity } = deps;
  const writes = deps.writes ?? store;
  let { policy, exempt } = deps;
  /** Passthrough logins of observed accounts, until the upstream has answered them. */
  const observing = new WeakMap<AuthRequest, ModeAt>();

  const audit = (
    req: AuthRequest,
    account: string | null,
    outcome: string,
    reason: string | null,
    passcodeId: string | null,
    detail: Record<string, unknown> | null,
  ) => {
    appendAudit(writes, clock, {
      type: 'auth',
      username: account,
      protocol: req.protocol,
      ip: req.remoteIp,
      passcodeId,
      outcome,
      reason,
      sessionId: req.sessionId ?? null,
      detail,
    }).catch((e: Error) => deps.onAuditError?.(e));
  };

  /** Identifies (account, secret) for the guard's repeat detection without keeping the secret. */
  const fingerprint = (account: string, secret: string) => keyedHash(keys.cache, 'failed-login', account, secret).slice(0, 16);

  const reject = async (req: AuthRequest, account: string, reason: RejectReason, passcodeId: string | null = null): Promise<Decision> => {
    audit(req, account || null, 'reject', reason, passcodeId, req.clientId ? { client: req.clientId } : null);
    const delayMs = await deps.guard.failure(req.remoteIp, account || null, fingerprint(account, req.secret));
    return { kind: 'reject', account, reason, delayMs, ...(HINTED.has(reason) ? { hint: 'needs-passcode' as const } : {}) };
  };

  /** Checks that do not depend on who is asking, after the passcode is proven. */
  const usable = (row: PasscodeRow, req: AuthRequest): RejectReason | null => {
    const status = passcodeStatus(row, clock.now(), deps.expireUnusedMs ?? null);
    if (status !== 'active') return status;
    if (!row.scopes.includes(req.protocol)) return 'wrong-scope';
    // Last: only someone holding the right passcode learns that the network is the problem.
    if (!fromAllowedNetwork(row, req.remoteIp)) return 'network-not-allowed';
    return null;
  };

  async function authenticate(req: AuthRequest): Promise<Decision> {
    // From here on only the canonical account is used — for policy, passcodes, the guard, the audit
    // log, and by the front for the upstream login (Decision.account).
    const account = identity.canonical(req.user);
    if (account === null || req.secret === '' || req.secret.includes('\u0000') || Buffer.byteLength(req.secret) > MAX_SECRET_BYTES) {
      return reject(req, account ?? '', 'malformed');
    }
    const verdict = await deps.guard.check(req.remoteIp, account);
    if (verdict.kind === 'blocked') {
      // Answered at once and cheaply: no store, no bcrypt, no upstream connection.
      audit(req, account, 'reject', 'throttled', null, { block: verdict.reason, until: verdict.until });
      return { kind: 'reject', account, reason: 'throttled', delayMs: 0 };
    }
    if (exempt.has(req.remoteIp)) {
      audit(req, account, 'passthrough', 'exempt-network', null, null);
      return { kind: 'passthrough', account, reason: 'exempt-network' };
    }
    const mode = modeAt(policy.enforce, (await store.getAccount(account))?.enforced, account, clock.now());
    if (mode.mode === 'off') {
      audit(req, account, 'passthrough', 'not-enforced', null, null);
      return { kind: 'passthrough', account, reason: 'not-enforced' };
    }
    const normalized = normalizePasscode(req.secret);
    if (mode.mode === 'observe') {
      // Observing: a passcode the user already made works (so apps can move over before the
      // date); anything else goes to the upstream as the main password, and a success there is
      // what would break once enforced (recordUpstreamResult).
      const found = normalized === null ? null : await findPasscode(req, account, normalized);
      if (found && !found.problem && normalized !== null) return accept(req, account, normalized, found);
      observing.set(req, mode);
      audit(req, account, 'passthrough', 'observe', null, null);
      return { kind: 'passthrough', account, reason: 'observe' };
    }
    if (normalized === null) return reject(req, account, 'not-a-passcode');
    const found = await findPasscode(req, account, normalized);
    if (!found) return reject(req, account, 'unknown-passcode');
    if (found.problem) return reject(req, account, found.problem, found.row.id);
    return accept(req, account, normalized, found);
  }

  /** The account's passcode `normalized` proves (one bcrypt unless cached), and what is wrong with it. */
  async function findPasscode(req: AuthRequest, account: string, normalized: string): Promise<Found | null> {
    const cachedId = cache.get(account, normalized);
    let row = cachedId
      ? await store.getPasscode(cachedId)
      : await store.findPasscodeByTag(account, passcodeTag(keys.tag, account, normalized));
    if (row && row.username !== account) row = undefined;
    if (!row) return null;
    if (!cachedId && !(await hasher.verify(normalized, row.hash))) return null;
    return { row, cachedId, problem: usable(row, req) };
  }

  async function accept(req: AuthRequest, account: string, normalized: string, { row, cachedId }: Found): Promise<Decision> {
    if (!cachedId) cache.set(account, normalized, row.id);
    const now = clock.now();
    // "Last used" is shown at minute precision; a mail app reconnecting all day from the same
    // place must not cost a database write per connection.
    const client = req.clientId ?? null;
    const fresh =
      row.lastUsedAt !== null &&
      now - row.lastUsedAt < LAST_USED_PRECISION_MS &&
      row.lastUsedIp === req.remoteIp &&
      row.lastUsedClient === client;
    if (!fresh) await writes.recordPasscodeUse(row.id, now, req.remoteIp, client);
    await deps.guard.success(req.remoteIp, account);
    audit(req, account, 'accept', null, row.id, { cached: cachedId !== null, ...(req.clientId ? { client: req.clientId } : {}) });
    return { kind: 'accept-passcode', account, passcodeId: row.id, cached: cachedId !== null, expiresAt: row.expiresAt };
  }

  return {
    authenticate,
    setPolicy(p, e) {
      policy = p;
      exempt = e;
    },
    async recordUpstreamResult(req, ok, detail) {
      const account = identity.canonical(req.user);
      audit(req, account, ok ? 'upstream-accept' : 'upstream-reject', detail ?? null, null, null);
      const mode = observing.get(req);
      observing.delete(req);
      if (ok && mode && account) deps.observer?.wouldBreak(req, account, mode);
      if (ok) {
        if (account) await deps.guard.success(req.remoteIp, account);
        return 0;
      }
      return deps.guard.failure(req.remoteIp, account, fingerprint(account ?? '', req.secret));
    },
  };
}
