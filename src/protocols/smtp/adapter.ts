/**
 * SMTP's upstream adapter for the one login flow (front/login.ts): one upstream connection per
 * login, logged in as the account by the configured method (Postfix XCLIENT LOGIN=, or AUTH PLAIN
 * with the master as authcid), or with the user's own password for passthrough; the real client
 * address goes first (XCLIENT ADDR=), so the upstream's logs and penalties see the client.
 */
import type { UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../runtime/logger.js';
import { UpstreamError } from '../../net/upstream.js';
import type { ClientInfo, UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import type { UpstreamExtensions } from './extensions.js';
import { replyText } from './reply.js';
import { SmtpUpstream } from './upstream.js';

export interface SmtpAdapterOptions {
  cfg: UpstreamConfig;
  /** Our EHLO name towards the upstream before XCLIENT. */
  hostname: string;
  extensions: UpstreamExtensions;
  log: Logger;
  /** The name the client gave in EHLO/HELO: our EHLO after XCLIENT, so Received headers show it. */
  helo: () => string;
  /** A ready upstream connection (front.ts's pool); default: a new one. */
  take?: () => Promise<{ conn: SmtpUpstream; pooled: boolean }>;
}

/** XCLIENT attributes describing the client (Postfix XCLIENT_README). */
function clientAttributes(client: ClientInfo): Array<[string, string]> {
  const addr = client.remoteIp.includes(':') ? `IPV6:${client.remoteIp}` : client.remoteIp;
  return [
    ['ADDR', addr],
    ['PORT', String(client.remotePort)],
    ['NAME', '[UNAVAILABLE]'],
    ['PROTO', 'ESMTP'],
  ];
}

/**
 * XCLIENT ADDR= before an AUTH, whenever the upstream offers XCLIENT to mailgate: its logs and
 * penalties then see the client, and — as the session is spliced afterwards — the client does
 * not inherit mailgate's XCLIENT privilege (Postfix checks a later XCLIENT against ADDR).
 */
async function forwardClient(up: SmtpUpstream, o: SmtpAdapterOptions, client: ClientInfo): Promise<void> {
  if (!up.has('XCLIENT')) return;
  const refused = await up.xclient(clientAttributes(client), o.helo());
  if (refused) o.log.warn({ upstreamSaid: replyText(refused) }, 'upstream refused XCLIENT ADDR; check smtp.upstream.trusted');
}

async function logIn(
  up: SmtpUpstream,
  o: SmtpAdapterOptions,
  creds: UpstreamCredentials,
  client: ClientInfo,
): Promise<UpstreamLogin<SmtpUpstream>> {
  const auth = o.cfg.auth;
  if (creds.kind === 'user') {
    // Not enforced: the upstream checks the user's own password.
    await forwardClient(up, o, client);
    const r = await up.auth('', creds.account, creds.password);
    if (r.code === 235) return { kind: 'ok', session: up };
    if (r.code >= 500) return { kind: 'refused', detail: replyText(r) };
    return { kind: 'unavailable', stage: 'login', detail: `upstream could not check the password now: ${replyText(r)}` };
  }
  if (auth.method === 'xclient') {
    if (!up.has('XCLIENT'))
      throw new UpstreamError('the upstream does not offer XCLIENT to mailgate (Postfix: smtpd_authorized_xclient_hosts)', 'login');
    const refused = await up.xclient([['LOGIN', creds.account], ...clientAttributes(client)], o.helo());
    if (refused) throw new UpstreamError(`upstream refused XCLIENT: ${replyText(refused)}`, 'login');
    return { kind: 'ok', session: up };
  }
  if (auth.method === 'sasl-proxy') {
    await forwardClient(up, o, client);
    const r = await up.auth(creds.account, auth.user, auth.password);
    return r.code === 235 ? { kind: 'ok', session: up } : { kind: 'refused', detail: replyText(r) };
  }
  throw new UpstreamError(`upstream auth method ${auth.method} is not usable for SMTP`, 'login');
}

/** The adapter; the upstream's post-login greeting and EHLO are consumed here, never the client's. */
export function smtpAdapter(o: SmtpAdapterOptions): UpstreamAdapter<SmtpUpstream> {
  return {
    protocol: 'smtp',
    upstreamLabel: `${o.cfg.host}:${o.cfg.port}`,
    async login(creds, client) {
      let up: SmtpUpstream | null = null;
      try {
        const taken = o.take ? await o.take() : { conn: await SmtpUpstream.open(o.cfg, o.hostname), pooled: false };
        up = taken.conn;
        o.extensions.learn(up.extensions);
        let r: UpstreamLogin<SmtpUpstream>;
        try {
          r = await logIn(up, o, creds, client);
        } catch (e) {
          // A pooled connection the upstream closed meanwhile (restart, its timeout): once more on a
          // new one, so the client never sees it.
          if (!taken.pooled || up.alive) throw e;
          up.destroy();
          up = await SmtpUpstream.open(o.cfg, o.hostname);
          r = await logIn(up, o, creds, client);
        }
        if (r.kind !== 'ok') {
          up.quit();
          return r;
        }
        if (up.has('XCLIENT')) {
          // The spliced client could send XCLIENT LOGIN= itself: its own address is trusted upstream.
          // (The session's logger already carries the client's ip.)
          o.log.warn(
            "the upstream still offers XCLIENT to this client after XCLIENT ADDR=: keep smtpd_authorized_xclient_hosts to mailgate's own address",
          );
        }
        return r;
      } catch (e) {
        up?.destroy();
        return { kind: 'unavailable', stage: e instanceof UpstreamError ? e.stage : 'internal', detail: (e as Error).message };
      }
    },
    detach: (up) => up.detach(),
    close: (up) => up.destroy(),
  };
}
