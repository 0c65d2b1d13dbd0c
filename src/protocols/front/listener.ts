/**
 * The listeners of one protocol: STARTTLS-style (clear until the protocol's STARTTLS/STLS) and
 * implicit TLS, each optionally behind a PROXY protocol header (net/proxied.ts), the per-address
 * cap on connections still before login, max connections, drain (stop accepting, live sessions
 * go on) and certificate reload. What happens on a connection is
 * the protocol's `session` function; the skeleton only counts and tracks it.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer, TLSSocket } from 'node:tls';
import type { Limits, ListenConfig } from '../../config/types.js';
import type { Logger } from '../../runtime/logger.js';
import type { ServerTls } from '../../net/tls.js';
import { closer } from '../../net/servers.js';
import { ignoreError } from '../../net/upstream.js';
import { readProxyHeader, socketPeer, type Peer } from '../../net/proxied.js';
import { NetworkSet } from '../../core/enforcement.js';
import { PROXY_REFUSED, refusalLog, type RefusalLog } from './refusals.js';

export interface FrontListener {
  /** Bound addresses, in the order of the listen config (port 0 → the real port). */
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  /** Stops accepting connections; live sessions go on. */
  stopAccepting(): Promise<void>;
  /** New certificate for connections from now on (implicit TLS and STARTTLS). */
  reloadTls(tls: ServerTls): void;
  /** Stops accepting and ends every connection still open. */
  close(): Promise<void>;
}

export interface ListenerOptions {
  /** IMAP, SMTP, POP3: for log lines and error messages. */
  name: string;
  listen: readonly ListenConfig[];
  limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>;
  /** The protocol's deps object; its `tls` is replaced on reload and read at every STARTTLS. */
  holder: { tls: ServerTls | null };
  log: Logger;
  /** The protocol's "too many connections from your address" line, CRLF included. */
  tooManyConnections: string;
  /**
   * Runs one connection; resolves when it leaves the pre-login phase (logged in and handed off,
   * or closed), which frees its pre-login slot. `starttls`: the listener offers STARTTLS. `peer`:
   * the client's address (from the PROXY header on a proxy_protocol listener).
   */
  session(socket: Socket, starttls: boolean, peer: Peer): Promise<void>;
}

/** Binds every listener of a protocol; rejects (and closes what was bound) if one cannot listen. */
export async function startListeners(o: ListenerOptions): Promise<FrontListener> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const addresses: FrontListener['addresses'] = [];
  // Connections still before login, per address: one source cannot hold every slot.
  const preLogin = new Map<string, number>();
  const refusals = refusalLog(o.log, { proto: o.name.toLowerCase(), limit: o.limits.maxPreLoginPerIp });
  const proxyRefusals = refusalLog(o.log, { proto: o.name.toLowerCase() }, undefined, PROXY_REFUSED);
  const track = (sock: Socket) => {
    sockets.add(sock);
    // `on`, not `once`: 'close' comes once, and a once-wrapper is two more objects per idle session.
    sock.on('close', () => sockets.delete(sock));
  };
  const accept: Accept = (sock, starttls, peer = socketPeer(sock)) => {
    track(sock);
    const ip = peer.ip;
    const n = preLogin.get(ip) ?? 0;
    if (n >= o.limits.maxPreLoginPerIp) {
      refusals.refused(ip);
      sock.on('error', ignoreError);
      sock.end(o.tooManyConnections);
      return;
    }
    preLogin.set(ip, n + 1);
    void o
      .session(sock, starttls, peer)
      .catch((e: Error) => {
        o.log.error({ err: e }, `internal error in ${o.name} session`);
        sock.destroy();
      })
      .finally(() => {
        const left = (preLogin.get(ip) ?? 1) - 1;
        if (left <= 0) preLogin.delete(ip);
        else preLogin.set(ip, left);
      });
  };
  try {
    for (const l of o.listen) {
      const server = l.proxyFrom
        ? proxiedListener(o, l, new NetworkSet(l.proxyFrom), { accept, track, refusals: proxyRefusals })
        : listenerFor(o, l, accept);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address();
      addresses.push({ host: l.host, port: typeof addr === 'object' && addr ? addr.port : l.port, tls: l.tls });
      servers.push(server);
      o.log.info({ host: l.host, port: addresses.at(-1)!.port, tls: l.tls }, `${o.name} listening`);
    }
  } catch (e) {
    for (const s of servers) s.close();
    refusals.stop();
    proxyRefusals.stop();
    throw e;
  }
  const stopAccepting = closer(servers);
  return {
    addresses,
    stopAccepting: async () => {
      void stopAccepting();
    },
    reloadTls(tls) {
      o.holder.tls = tls;
      for (const s of servers) if (s instanceof TlsServer) s.setSecureContext(tls.options);
    },
    async close() {
      const closed = stopAccepting();
      refusals.stop();
      proxyRefusals.stop();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

type Accept = (sock: Socket, starttls: boolean, peer?: Peer) => void;

function listenerFor(o: ListenerOptions, l: ListenConfig, accept: Accept): Server {
  let server: Server;
  if (l.tls === 'implicit') {
    if (!o.holder.tls) throw new Error(`an implicit-TLS ${o.name} listener needs tls.cert and tls.key`);
    const tls = createTlsServer({ ...o.holder.tls.options, handshakeTimeout: 30_000 }, (sock) => accept(sock, false));
    tls.on('tlsClientError', (err, sock) => {
      o.log.debug({ err: err.message, ip: sock.remoteAddress }, 'TLS handshake failed');
    });
    server = tls;
  } else {
    server = createNetServer((sock) => accept(sock, l.tls === 'starttls'));
  }
  server.maxConnections = o.limits.maxConnections;
  server.on('error', (err) => o.log.error({ err: err.message }, `${o.name} listener error`));
  return server;
}

/**
 * A listener behind a load balancer: the PROXY header first, then (implicit TLS) the handshake
 * — the balancer passes TLS through untouched, so the header comes before the ClientHello.
 */
function proxiedListener(
  o: ListenerOptions,
  l: ListenConfig,
  from: NetworkSet,
  c: { accept: Accept; track: (sock: Socket) => void; refusals: RefusalLog },
): Server {
  if (l.tls === 'implicit' && !o.holder.tls) throw new Error(`an implicit-TLS ${o.name} listener needs tls.cert and tls.key`);
  const refused = (ip: string, reason: string) => {
    c.refusals.refused(ip);
    o.log.debug({ ip, reason }, `${o.name}: connection dropped before the greeting`);
  };
  const server = createNetServer(async (raw) => {
    // Tracked from the start: close() also ends connections still waiting for their header.
    c.track(raw);
    const peer = await readProxyHeader(raw, { from, refused });
    if (!peer) return;
    if (l.tls !== 'implicit') return c.accept(raw, l.tls === 'starttls', peer);
    // The context is read now, so a reloaded certificate applies from the next connection on.
    const tls = new TLSSocket(raw, { isServer: true, secureContext: o.holder.tls!.context });
    const timer = setTimeout(() => tls.destroy(), 30_000);
    const failed = (err: Error) => {
      clearTimeout(timer);
      o.log.debug({ err: err.message, ip: peer.ip }, 'TLS handshake failed');
      tls.destroy();
    };
    tls.once('error', failed);
    tls.once('secure', () => {
      clearTimeout(timer);
      tls.off('error', failed);
      c.accept(tls, false, peer);
    });
  });
  server.maxConnections = o.limits.maxConnections;
  server.on('error', (err) => o.log.error({ err: err.message }, `${o.name} listener error`));
  return server;
}
