/**
 * SMTP submission front (smtp-server): AUTH PLAIN/LOGIN checked by the core, then the
 * authenticated transaction relayed to the upstream logged in as the user.
 *
 * smtp-server runs the protocol (EHLO, STARTTLS, AUTH exchange, DATA un-stuffing, limits); its
 * hooks are where policy enters: onConnect (no AUTH before TLS), onAuth (core + upstream login),
 * onMailFrom/onRcptTo/onData (relay), onClose. Its own logger stays off (it would log AUTH data).
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { AuthRequest } from '../../core/types.js';
import type { ListenConfig, UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../net/logger.js';
import type { ServerTls } from '../../net/tls.js';
import { startLoginTimer } from '../../net/pacing.js';
import { closer } from '../../net/servers.js';
import { UpstreamCapabilities } from './capabilities.js';
import { R, sendVerbatim, smtpError, type SmtpReplyText } from './responses.js';
import { loginUpstream } from './login.js';
import { endClient, type Relay } from './relay.js';

export interface SmtpSettings {
  upstream: UpstreamConfig;
  /** Name used in our greeting/EHLO when the upstream's cannot be learned. */
  hostname: string;
  allowPlaintextAuth: boolean;
  failureDelayMs: number;
  /** Random extra delay on every failure answer (net/pacing.ts). */
  failureJitterMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
  /** Connections still before AUTH from one address (as limits.max_prelogin_per_ip for IMAP). */
  maxPreLoginPerIp: number;
}

export interface SmtpDeps {
  settings: SmtpSettings;
  tls: ServerTls | null;
  authenticator: Authenticator;
  sessions: SessionRegistry;
  log: Logger;
  now: () => number;
}

export interface SmtpFront {
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  /** Stops accepting connections; live sessions go on. */
  stopAccepting(): Promise<void>;
  /** New certificate for connections from now on (implicit TLS and STARTTLS). */
  reloadTls(tls: ServerTls): void;
  close(): Promise<void>;
}

/** Per client connection. */
interface Client {
  conn: SMTPConnection | null;
  log: Logger;
  relay: Relay | null;
  closed: boolean;
  unregister: (() => void) | null;
  /** Still counted against its address's pre-login slots (until AUTH succeeds or it closes). */
  preLogin: boolean;
}

/** Connections before AUTH, per address: one source cannot hold every slot with idle connections. */
class PreLoginCount {
  private readonly n = new Map<string, number>();
  constructor(private readonly max: number) {}
  /** Takes a slot; false when the address already holds the maximum. */
  take(ip: string): boolean {
    const n = this.n.get(ip) ?? 0;
    if (n >= this.max) return false;
    this.n.set(ip, n + 1);
    return true;
  }
  release(ip: string): void {
    const left = (this.n.get(ip) ?? 1) - 1;
    if (left <= 0) this.n.delete(ip); else this.n.set(ip, left);
  }
}

export async function startSmtpFront(deps: SmtpDeps, listen: readonly ListenConfig[]): Promise<SmtpFront> {
  const s = deps.settings;
  const caps = new UpstreamCapabilities(s.upstream, s.hostname, deps.log);
  try { await caps.probe(); } catch (e) {
    deps.log.warn({ err: (e as Error).message }, 'SMTP upstream not reachable at start; will retry');
  }
  const clients = new Map<string, Client>();
  const preLogin = new PreLoginCount(s.maxPreLoginPerIp);
  const sockets = new Set<Socket>();
  const servers: SMTPServer[] = [];
  const addresses: SmtpFront['addresses'] = [];
  try {
    for (const l of listen) {
      const server = createServer(deps, caps, clients, preLogin, l);
      server.server.on('connection', (sock: Socket) => { sockets.add(sock); sock.once('close', () => sockets.delete(sock)); });
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(l.port, l.host, () => { server.server.off('error', reject); resolve(); });
      });
      const addr = server.server.address();
      addresses.push({ host: l.host, port: typeof addr === 'object' && addr ? addr.port : l.port, tls: l.tls });
      servers.push(server);
      deps.log.info({ host: l.host, port: addresses.at(-1)!.port, tls: l.tls }, 'SMTP listening');
    }
  } catch (e) {
    for (const server of servers) server.close();
    throw e;
  }
  const stopAccepting = closer(servers.map((server) => server.server));
  return {
    addresses,
    stopAccepting: async () => { void stopAccepting(); },
    reloadTls(tls) {
      deps.tls = tls;
      for (const server of servers) server.updateSecureContext(tls.options);
    },
    async close() {
      const closed = stopAccepting();
      for (const c of clients.values()) if (c.conn) endClient(c.conn, R.shuttingDown);
      for (const server of servers) caps.detach(server);
      // Give the 421s a moment to leave, then end whatever is still open.
      await Promise.race([closed, new Promise((r) => setTimeout(r, 200))]);
      for (const sock of sockets) sock.destroy();
      for (const c of clients.values()) c.relay?.close();
      await closed;
    },
  };
}

function createServer(deps: SmtpDeps, caps: UpstreamCapabilities, clients: Map<string, Client>, preLogin: PreLoginCount, l: ListenConfig): SMTPServer {
  const s = deps.settings;
  const implicit = l.tls === 'implicit';
  if (l.tls !== 'none' && !deps.tls) throw new Error(`an SMTP listener with tls: ${l.tls} needs tls.cert and tls.key`);
  // STARTTLS only where it is configured (smtp-server would otherwise use its built-in demo key).
  const disabled = l.tls === 'starttls' ? [] : ['STARTTLS'];
  const options: SMTPServerOptions = {
    ...(deps.tls && l.tls !== 'none' ? deps.tls.options : {}),
    secure: implicit,
    name: s.hostname,
    heloResponse: '%s',
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: s.allowPlaintextAuth,
    authRequiredMessage: R.authRequired.text,
    disabledCommands: disabled,
    disableReverseLookup: true,
    logger: false,
    socketTimeout: s.idleTimeoutMs,
    closeTimeout: 1_000,
    ...caps.options,
    onConnect: (session, cb) => {
      const conn = findConnection(server, session);
      const log = deps.log.child({ sid: session.id, ip: session.remoteAddress, proto: 'smtp' });
      if (!preLogin.take(session.remoteAddress)) {
        log.warn({ limit: s.maxPreLoginPerIp }, 'connection refused: too many pre-login connections from this address');
        return cb(smtpError(R.tooManyConnections)); // smtp-server answers it and closes
      }
      if (conn) sendVerbatim(conn, () => caps.enhancedStatusCodes);
      else log.warn('cannot reach the smtp-server connection object; replies may carry doubled status codes');
      clients.set(session.id, { conn, log, relay: null, closed: false, unregister: null, preLogin: true });
      // No AUTH (not even advertised) before TLS, unless the admin allows plaintext auth.
      if (!session.secure && !s.allowPlaintextAuth) session.disabledCommands = [...disabled, 'AUTH'];
      caps.probeIfUnknown();
      log.debug({ port: l.port, tls: l.tls }, 'connected');
      cb();
    },
    onSecure: (_socket, session, cb) => {
      session.disabledCommands = [...disabled];
      cb();
    },
    onAuth: (auth, session, cb) => {
      onAuth(deps, caps, clients, auth, session).then(
        (r) => {
          if (r !== true) return cb(smtpError(r));
          const c = clients.get(session.id);
          if (c?.preLogin) { c.preLogin = false; preLogin.release(session.remoteAddress); }
          cb(null, { user: { username: auth.username } });
        },
        (e: Error) => { clients.get(session.id)?.log.error({ err: e }, 'internal error in SMTP AUTH'); cb(smtpError(R.internal)); });
    },
    onMailFrom: (address, session, cb) => {
      const relay = clients.get(session.id)?.relay;
      if (!session.user || !relay) return cb(smtpError(R.authRequired));
      relay.mailFrom(address).then(() => cb(), cb);
    },
    onRcptTo: (address, session, cb) => {
      const relay = clients.get(session.id)?.relay;
      if (!session.user || !relay) return cb(smtpError(R.authRequired));
      relay.rcptTo(address).then(() => cb(), cb);
    },
    onData: (stream, session, cb) => {
      const relay = clients.get(session.id)?.relay;
      if (!session.user || !relay) return cb(smtpError(R.authRequired));
      relay.data(stream).then((text) => cb(null, text), cb);
    },
    onClose: (session) => {
      const c = clients.get(session.id);
      if (!c) return;
      clients.delete(session.id);
      c.closed = true;
      if (c.preLogin) { c.preLogin = false; preLogin.release(session.remoteAddress); }
      c.unregister?.();
      c.relay?.close();
      if (c.relay) c.log.info({ messages: c.relay.messages, bytes: c.relay.bytes }, 'session closed');
      else c.log.debug('disconnected');
    },
  };
  const server = new SMTPServer(options);
  caps.attach(server);
  server.on('error', (err: Error & { remoteAddress?: string }) => deps.log.debug({ err: err.message, ip: err.remoteAddress }, 'SMTP connection error'));
  return server;
}

/** smtp-server hands hooks the session, not the connection; the connection holds that session. */
function findConnection(server: SMTPServer, session: SMTPServerSession): SMTPConnection | null {
  for (const c of server.connections) if (c.session === session) return c;
  return null;
}

/** true when logged in (the relay is set up), else the reply for the client. */
async function onAuth(deps: SmtpDeps, caps: UpstreamCapabilities, clients: Map<string, Client>, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<true | SmtpReplyText> {
  // Every failure is answered at the same time after the AUTH exchange, whatever its reason.
  const timer = startLoginTimer(deps.settings.failureJitterMs);
  const c = clients.get(session.id);
  if (!c) return R.internal;
  if (!session.secure && !deps.settings.allowPlaintextAuth) return R.encryptionRequired;
  const user = auth.username ?? '';
  const req: AuthRequest = { user, secret: auth.password ?? '', protocol: 'smtp', remoteIp: session.remoteAddress, clientId: session.hostNameAppearsAs || null, sessionId: session.id };
  if (auth.method === 'PLAIN' && auth.authzid && auth.authcid && auth.authzid !== auth.authcid) {
    // Acting as another user is the upstream master's privilege, never a client's.
    c.log.info({ user: auth.authcid }, 'login rejected: PLAIN authzid differs from authcid');
    await timer.failureDue(deps.settings.failureDelayMs);
    return R.authFailed;
  }
  const decision = await deps.authenticator.authenticate(req);
  if (decision.kind === 'reject') {
    c.log.info({ user: decision.account, reason: decision.reason, delayMs: decision.delayMs }, 'login rejected');
    await timer.failureDue(decision.delayMs);
    return R.authFailed;
  }
  const log = c.log.child({ user: decision.account });
  const outcome = await loginUpstream(deps, caps, req, decision, { helo: session.hostNameAppearsAs || deps.settings.hostname, remotePort: session.remotePort }, log);
  if (!outcome.ok) {
    if (outcome.delayMs !== undefined) await timer.failureDue(outcome.delayMs);
    return outcome.reply;
  }
  const relay = outcome.relay;
  if (c.closed) { relay.close(); return R.internal; }
  c.log = log;
  c.relay = relay;
  relay.up.onLost((e) => c.log.info({ err: e.message }, 'SMTP upstream connection lost'));
  c.unregister = deps.sessions.register({
    id: session.id, account: decision.account, passcodeId: decision.kind === 'accept-passcode' ? decision.passcodeId : null,
    protocol: 'smtp', remoteIp: session.remoteAddress, since: deps.now(), expiresAt: decision.kind === 'accept-passcode' ? decision.expiresAt : null,
    close: (reason) => {
      c.log.info({ reason }, 'session ended by mailgate');
      relay.up.destroy(); // mid-DATA: no final dot, nothing is queued upstream
      if (c.conn) endClient(c.conn, reason === 'shutdown' ? R.shuttingDown : R.revoked);
    },
  });
  c.log.info({ via: decision.kind, passcodeId: decision.kind === 'accept-passcode' ? decision.passcodeId : undefined }, 'logged in');
  return true;
}
