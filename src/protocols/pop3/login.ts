/**
 * The POP3 login flow: canonical identity and policy (core) → upstream login through the adapter
 * → the one failure or unavailable answer. Kept apart from the session (it takes its
 * dependencies as parameters) so it is tested without sockets, and shaped as the shared login
 * flow of the front skeleton will be: the adapter's four results map to three answers.
 */
import type { Authenticator } from '../../core/authenticate.js';
import type { AuthRequest, Decision } from '../../core/types.js';
import type { Logger } from '../../net/logger.js';
import { startLoginTimer } from '../../net/pacing.js';
import { R } from './responses.js';
import type { ClientAddress, LoginCredentials, Pop3UpstreamPort, UpstreamLink } from './upstream.js';

export interface LoginFlowDeps {
  authenticator: Authenticator;
  upstream: Pop3UpstreamPort;
  /** Delay before answering a failure that never reached the guard (a PLAIN authzid ≠ authcid). */
  failureDelayMs: number;
  /** Random extra delay on every failure answer (net/pacing.ts). */
  failureJitterMs: number;
  log: Logger;
}

export type LoginOutcome =
  | { kind: 'ok'; reply: string; link: UpstreamLink; decision: Exclude<Decision, { kind: 'reject' }> }
  | { kind: 'failed'; reply: string };

/** Runs one login; a failure is returned when its answer is due (arrival + delay + jitter). */
export async function runLogin(deps: LoginFlowDeps, req: AuthRequest, client: ClientAddress): Promise<LoginOutcome> {
  const timer = startLoginTimer(deps.failureJitterMs);
  const log = deps.log;
  let decision: Decision;
  try {
    decision = await deps.authenticator.authenticate(req);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'authentication failed internally (store or hashing)');
    return { kind: 'failed', reply: R.unavailable };
  }
  const failed = async (delayMs: number) => { await timer.failureDue(delayMs); return { kind: 'failed' as const, reply: R.authFailed }; };
  if (decision.kind === 'reject') {
    log.info({ user: decision.account, reason: decision.reason, delayMs: decision.delayMs }, 'login rejected');
    return failed(decision.delayMs);
  }
  // Upstream, the canonical account logs in, never the name as typed (core/identity.ts).
  const account = decision.account;
  const creds: LoginCredentials = decision.kind === 'accept-passcode' ? { kind: 'master', user: account } : { kind: 'user', user: account, password: req.secret };
  const r = await deps.upstream.login(creds, client);
  switch (r.result) {
    case 'ok':
      if (decision.kind === 'passthrough') deps.authenticator.recordUpstreamResult(req, true);
      return { kind: 'ok', reply: r.reply, link: r.link, decision };
    case 'unavailable':
      log.error({ stage: r.stage ?? 'login', err: r.detail }, 'upstream unavailable');
      return { kind: 'failed', reply: R.unavailable };
    case 'unknown-account':
      // The master credentials work but this user does not exist upstream: the normal failure.
      log.warn({ user: account }, 'upstream refused the master login for this user (unknown account?)');
      return failed(deps.failureDelayMs);
    case 'refused':
      if (decision.kind === 'passthrough') {
        log.info({ user: account }, 'login rejected by upstream');
        // Waits only for what is left after the upstream's own delay.
        return failed(deps.authenticator.recordUpstreamResult(req, false));
      }
      log.error({ user: account, upstreamSaid: r.detail }, 'upstream refused the master login: check pop3.upstream.auth');
      return { kind: 'failed', reply: R.unavailable };
  }
}

/** A login refused before the core saw it, answered at the same time as every other failure. */
export async function refuseLogin(deps: Pick<LoginFlowDeps, 'failureDelayMs' | 'failureJitterMs'>): Promise<string> {
  await startLoginTimer(deps.failureJitterMs).failureDue(deps.failureDelayMs);
  return R.authFailed;
}
