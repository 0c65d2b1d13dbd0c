/**
 * The one login flow of every protocol: the core decides on the typed name (and makes it the
 * canonical account), the protocol's upstream adapter logs that account in, and the outcome comes
 * back as a status the protocol words in its own reply. Failures of every kind are due at the
 * same moment after the login command (front/pacing.ts, finding 6b), so the answer time tells
 * nothing about why; "unavailable" (store, upstream, master login) is answered at once.
 */
import type { Authenticator } from '../../core/authenticate.js';
import type { AuthRequest, Protocol } from '../../core/types.js';
import type { Logger } from '../../runtime/logger.js';
import type { LoginTimer } from './pacing.js';
import type { ClientInfo, LoginStatus, UpstreamAdapter, UpstreamCredentials } from './types.js';

export interface LoginDeps {
  authenticator: Authenticator;
  /** Delay for failures the core did not time (unknown account upstream, PLAIN authzid ≠ authcid). */
  failureDelayMs: number;
  log: Logger;
  /** auth.refusal_hint: when false, a refusal never carries the core's hint. */
  refusalHint?: boolean;
}

/** The flow's dependencies from a session's own (a configured refusal hint turns hints on): what every protocol passes, in one place. */
export function loginDepsOf(
  authenticator: Authenticator,
  settings: { failureDelayMs: number; refusalHint?: unknown },
  log: Logger,
): LoginDeps {
  return { authenticator, failureDelayMs: settings.failureDelayMs, log, refusalHint: !!settings.refusalHint };
}

export interface LoginAttempt {
  protocol: Protocol;
  /** As typed; only the core's canonical account goes further. */
  user: string;
  secret: string;
  /** Started when the login command arrived. */
  timer: LoginTimer;
  client: ClientInfo;
  /** Client name/version (IMAP ID, EHLO name), for "last used by". */
  clientName: string | null;
}

/** Decides, logs in upstream through `adapter`, and says how the login ended. Never throws. */
export async function loginFlow<T>(deps: LoginDeps, adapter: UpstreamAdapter<T>, a: LoginAttempt): Promise<LoginStatus<T>> {
  const req: AuthRequest = {
    user: a.user,
    secret: a.secret,
    protocol: a.protocol,
    remoteIp: a.client.remoteIp,
    clientId: a.clientName,
    sessionId: a.client.sessionId,
  };
  let decision;
  try {
    decision = await deps.authenticator.authenticate(req);
  } catch (e) {
    deps.log.error({ err: (e as Error).message }, 'authentication failed internally (store or hashing)');
    return { kind: 'unavailable' };
  }
  if (decision.kind === 'reject') {
    deps.log.info({ user: decision.account, reason: decision.reason, delayMs: decision.delayMs }, 'login rejected');
    // Same moment as every other failure: only the words differ, never the timing.
    const failed = await failAfter(a.timer, decision.delayMs);
    return decision.hint && deps.refusalHint ? { ...failed, hint: decision.hint } : failed;
  }
  // Upstream, the canonical account logs in, never the name as typed: if the upstream read the typed
  // name as another account than mailgate did, enforcement could be walked around (core/identity.ts).
  const creds: UpstreamCredentials =
    decision.kind === 'accept-passcode'
      ? { kind: 'master', account: decision.account }
      : { kind: 'user', account: decision.account, password: a.secret };
  let r;
  try {
    r = await adapter.login(creds, a.client);
  } catch (e) {
    r = { kind: 'unavailable' as const, stage: 'internal', detail: (e as Error).message };
  }
  const proto = adapter.protocol;
  if (r.kind === 'ok') {
    if (decision.kind === 'passthrough') await deps.authenticator.recordUpstreamResult(req, true);
    return { kind: 'ok', session: r.session, decision };
  }
  // Only a login that went wrong logs here: no child logger on the way of a successful one (a
  // child per login made the session's logger a prototype, and cost ~4 µs).
  const log = deps.log.child({ user: decision.account });
  switch (r.kind) {
    case 'unavailable':
      log.error({ stage: r.stage, err: r.detail, upstream: adapter.upstreamLabel }, `${proto.toUpperCase()} upstream unavailable`);
      return { kind: 'unavailable' };
    default:
      break;
  }
  if (decision.kind === 'passthrough') {
    // The upstream checked the user's own password: the guard counts it, and the answer waits only
    // for what is left after the upstream's own delay.
    const delayMs = await deps.authenticator.recordUpstreamResult(req, false, r.detail);
    log.info('login rejected by upstream');
    return failAfter(a.timer, delayMs);
  }
  if (r.kind === 'unknown-account') {
    // The master credentials work but this user does not exist upstream: the normal failure, as
    // for any unknown name.
    log.warn('upstream refused the master login for this user (unknown account?)');
    return failAfter(a.timer, deps.failureDelayMs);
  }
  log.error(
    { upstream: r.server ?? adapter.upstreamLabel, upstreamSaid: r.detail.slice(0, 200) },
    `upstream refused the master login: check ${proto}.upstream.auth`,
  );
  return { kind: 'unavailable' };
}

/** A login refused before the core saw it (PLAIN authzid ≠ authcid), due with every other failure. */
export function refuseEarly(deps: LoginDeps, timer: LoginTimer): Promise<{ kind: 'failed' }> {
  return failAfter(timer, deps.failureDelayMs);
}

async function failAfter(timer: LoginTimer, delayMs: number): Promise<{ kind: 'failed' }> {
  await timer.failureDue(delayMs);
  return { kind: 'failed' };
}
