/**
 * The self-service portal and the admin JSON API, on their own port (config `portal.listen`).
 * `startPortal` takes its dependencies explicitly; main.ts builds them from the running core.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { announcePeer, readProxyHeader } from '../net/proxied.js';
import { PROXY_REFUSED, refusalLog } from '../protocols/front/refusals.js';
import { NetworkSet } from '../core/enforcement.js';
import { AuthGuard } from '../core/guard.js';
import { localGuard } from '../core/guard-port.js';
import { createTwoFactor, issuerFor } from '../core/twofactor.js';
import type { Config } from '../config/types.js';
import { createRequestHandler } from './app.js';
import { PreSessionCsrf } from './csrf.js';
import { InFlight } from './inflight.js';
import { OnceForms } from './once.js';
import { authRoutes } from './routes/auth.js';
import { passcodeRoutes } from './routes/passcodes.js';
import { twoFactorRoutes } from './routes/twofactor.js';
import { DEFAULT_TIMEOUTS, PortalSessions } from './sessions.js';
import type { MailEndpoint, MailSettings, Portal, PortalDeps } from './types.js';

export type { ImapLogin, MailSettings, PortalDeps } from './types.js';
export { createImapLogin } from './imap-login.js';
export { UpstreamError } from '../net/upstream.js';

export interface PortalHandle {
  address: { host: string; port: number };
  /** The URL the portal is reachable at (public_url when set). */
  url: string;
  close(): Promise<void>;
}

const ROUTES = [...authRoutes, ...twoFactorRoutes, ...passcodeRoutes];
const PRUNE_EVERY_MS = 10 * 60_000;

/** Mail settings for the passcode setup steps, from the config and (port 0 in tests) the bound addresses. */
export function mailSettingsFrom(
  config: Pick<Config, 'imap' | 'smtp' | 'portal'>,
  bound: { imap?: MailEndpoint[]; smtp?: MailEndpoint[] } = {},
  host: string | null = null,
): MailSettings {
  const pick = (l: MailEndpoint[]) => l.map(({ port, tls }) => ({ port, tls }));
  return {
    host: host ?? config.portal?.publicImapHost ?? null,
    smtpHost: host ?? config.portal?.publicSmtpHost ?? null,
    imap: pick(bound.imap ?? config.imap?.listen ?? []),
    smtp: pick(bound.smtp ?? config.smtp?.listen ?? []),
  };
}

function buildPortal(deps: PortalDeps): Portal {
  const random = deps.random ?? randomBytes;
  const publicUrl = deps.portal.publicUrl ? new URL(deps.portal.publicUrl) : null;
  const base = publicUrl ? publicUrl.pathname.replace(/\/+$/, '') : '';
  // Secure cookies when the browser talks TLS: to us directly, or to the reverse proxy in front.
  const secure = !!deps.tls || publicUrl?.protocol === 'https:';
  const tf = createTwoFactor({
    store: deps.store,
    hasher: deps.hasher,
    keys: deps.keys,
    clock: deps.clock,
    random,
    policy: deps.policy,
    identity: deps.identity,
    manager: deps.manager,
    issuer: deps.issuer ?? issuerFor(deps.portal.publicUrl),
    firstEnrolment: deps.portal.firstEnrolment,
  });
  const sessions = new PortalSessions(
    deps.store,
    deps.clock,
    random,
    { ...DEFAULT_TIMEOUTS, ...deps.timeouts },
    { path: base || '/', secure },
  );
  return {
    deps,
    tf,
    sessions,
    pre: new PreSessionCsrf(deps.keys.signinCsrf),
    base,
    secure,
    trustedProxies: new NetworkSet(deps.portal.trustedProxies),
    guard: deps.guard ?? localGuard(new AuthGuard(deps.clock)),
    inFlight: new InFlight(),
    once: new OnceForms(deps.clock),
  };
}

/** Starts the portal; resolves once it listens. */
export async function startPortal(deps: PortalDeps): Promise<PortalHandle> {
  const p = buildPortal(deps);
  const handler = createRequestHandler(p, ROUTES);
  const server: Server = deps.tls
    ? createHttpsServer({ cert: deps.tls.cert, key: deps.tls.key, minVersion: 'TLSv1.2' }, handler)
    : createHttpServer(handler);
  // Slow-loris bounds: a request has 20 s for its headers and 30 s in all.
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;
  const proxied = deps.portal.listen.proxyFrom ? proxyFront(deps, server, new NetworkSet(deps.portal.listen.proxyFrom)) : null;
  const bound = proxied?.server ?? server;
  await new Promise<void>((resolve, reject) => {
    bound.once('error', reject);
    bound.listen(deps.portal.listen.port, deps.portal.listen.host, () => {
      bound.off('error', reject);
      resolve();
    });
  });
  const addr = bound.address();
  const address = { host: deps.portal.listen.host, port: typeof addr === 'object' && addr ? addr.port : deps.portal.listen.port };
  const hostForUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
  const url = deps.portal.publicUrl ?? `${deps.tls ? 'https' : 'http'}://${hostForUrl}:${address.port}/`;
  const prune = setInterval(() => {
    p.sessions.prune().catch((e: Error) => deps.log.error({ err: e.message }, 'portal: cannot prune sessions'));
  }, PRUNE_EVERY_MS);
  prune.unref();
  deps.log.info({ host: address.host, port: address.port, tls: !!deps.tls, url }, 'portal listening');
  return {
    address,
    url,
    async close() {
      clearInterval(prune);
      proxied?.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * The portal behind a load balancer in TCP mode: a plain listener reads the PROXY header, then
 * hands the connection to the HTTP server, which never listens itself. The header's address
 * becomes the request's client address (app.ts peerOf). The portal speaks plain HTTP here (main.ts
 * gives it no certificate): TLS ends at the balancer, as in deploy/haproxy.cfg.
 */
function proxyFront(deps: PortalDeps, http: Server, from: NetworkSet) {
  if (deps.tls) throw new Error('portal.listen.proxy_protocol: end TLS at the load balancer (the portal speaks plain HTTP behind it)');
  const refusals = refusalLog(deps.log, { proto: 'portal' }, undefined, PROXY_REFUSED);
  const server = createNetServer(async (raw) => {
    const peer = await readProxyHeader(raw, { from, refused: (ip) => refusals.refused(ip) });
    if (!peer) return;
    announcePeer(raw, peer);
    http.emit('connection', raw);
    // readProxyHeader left it paused with the request's first bytes put back: let them flow.
    raw.resume();
  });
  return {
    server,
    stop() {
      refusals.stop();
      server.close();
    },
  };
}
