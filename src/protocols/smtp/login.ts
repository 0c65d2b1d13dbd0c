/**
 * The upstream login for an accepted client: one upstream connection per client session, logged
 * in as the user by the configured method, with the real client address forwarded where the
 * upstream trusts mailgate. Failures become the client's reply and, for the admin, a log line.
 */
import type { AuthRequest, Decision } from '../../core/types.js';
import type { Logger } from '../../net/logger.js';
import type { UpstreamCapabilities } from './capabilities.js';
import type { SmtpDeps } from './front.js';
import { Relay } from './relay.js';
import { replyText } from './reply.js';
import { R, type SmtpReplyText } from './responses.js';
import { SmtpUpstream, UpstreamError } from './upstream.js';

/** delayMs: a refused password, to be answered that long after the AUTH command (net/pacing.ts). */
export type LoginOutcome = { ok: true; relay: Relay } | { ok: false; reply: SmtpReplyText; delayMs?: number };

export interface ClientInfo {
  /** The name the client gave in EHLO/HELO; sent as our EHLO after XCLIENT so Received headers show it. */
  helo: string;
  remotePort: number;
}

/** XCLIENT attributes describing the client (Postfix XCLIENT_README). */
function clientAttributes(req: AuthRequest, client: ClientInfo): Array<[string, string]> {
  const addr = req.remoteIp.includes(':') ? `IPV6:${req.remoteIp}` : req.remoteIp;
  return [['ADDR', addr], ['PORT', String(client.remotePort)], ['NAME', '[UNAVAILABLE]'], ['PROTO', 'ESMTP']];
}

/** XCLIENT ADDR= before an AUTH: the upstream's logs and auth penalties then see the real client. */
async function forwardClient(up: SmtpUpstream, deps: SmtpDeps, req: AuthRequest, client: ClientInfo, log: Logger): Promise<void> {
  if (!deps.settings.upstream.trusted || !up.has('XCLIENT')) return;
  const refused = await up.xclient(clientAttributes(req, client), client.helo);
  if (refused) log.warn({ upstreamSaid: replyText(refused) }, 'upstream refused XCLIENT ADDR; check smtp.upstream.trusted');
}

/** Enforced account with a valid passcode: log in as the user with mailgate's own credentials. */
async function loginAsUser(up: SmtpUpstream, deps: SmtpDeps, account: string, req: AuthRequest, client: ClientInfo, log: Logger): Promise<void> {
  const auth = deps.settings.upstream.auth;
  if (auth.method === 'xclient') {
    if (!up.has('XCLIENT')) throw new UpstreamError('the upstream does not offer XCLIENT to mailgate (Postfix: smtpd_authorized_xclient_hosts)', 'login');
    const refused = await up.xclient([['LOGIN', account], ...clientAttributes(req, client)], client.helo);
    if (refused) throw new UpstreamError(`upstream refused XCLIENT: ${replyText(refused)}`, 'login');
  } else if (auth.method === 'sasl-proxy') {
    await forwardClient(up, deps, req, client, log);
    const r = await up.auth(account, auth.user, auth.password);
    if (r.code !== 235) throw new UpstreamError(`upstream refused the master login for ${account}: ${replyText(r)}`, 'login');
  } else {
    throw new UpstreamError(`upstream auth method ${auth.method} is not usable for SMTP`, 'login');
  }
}

/** Logs in upstream as the decision says. Never throws. */
export async function loginUpstream(deps: SmtpDeps, caps: UpstreamCapabilities, req: AuthRequest, decision: Exclude<Decision, { kind: 'reject' }>,
  client: ClientInfo, log: Logger): Promise<LoginOutcome> {
  const cfg = deps.settings.upstream;
  let up: SmtpUpstream | null = null;
  try {
    up = await SmtpUpstream.open(cfg, deps.settings.hostname);
    if (decision.kind === 'accept-passcode') {
      // The canonical account, never the name as typed: mailgate and the upstream must agree on
      // who this is (core/identity.ts).
      await loginAsUser(up, deps, decision.account, req, client, log);
    } else {
      // Not enforced: the upstream checks the user's own password.
      await forwardClient(up, deps, req, client, log);
      const r = await up.auth('', decision.account, req.secret);
      if (r.code !== 235) {
        up.quit();
        if (r.code >= 500) {
          const delayMs = deps.authenticator.recordUpstreamResult(req, false, replyText(r));
          log.info('login rejected by upstream');
          return { ok: false, reply: R.authFailed, delayMs };
        }
        log.warn({ upstreamSaid: replyText(r) }, 'upstream could not check the password now');
        return { ok: false, reply: R.unavailable };
      }
      deps.authenticator.recordUpstreamResult(req, true);
    }
    caps.learn(up.extensions);
    return { ok: true, relay: new Relay(up, log) };
  } catch (e) {
    up?.destroy();
    const stage = e instanceof UpstreamError ? e.stage : 'internal';
    log.error({ stage, err: (e as Error).message, upstream: `${cfg.host}:${cfg.port}` }, 'SMTP upstream unavailable');
    return { ok: false, reply: R.unavailable };
  }
}
