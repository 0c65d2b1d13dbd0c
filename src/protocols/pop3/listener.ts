/**
 * POP3 listeners: port 110 style (clear until STLS) and 995 style (implicit TLS). Each accepted
 * socket becomes a Pop3Session; a source holds at most `maxPreLoginPerIp` connections that have
 * not logged in yet. Modelled on the IMAP listener, until the shared front skeleton takes both.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer } from 'node:tls';
import type { Limits, ListenConfig } from '../../config/types.js';
import type { ServerTls } from '../../net/tls.js';
import { closer } from '../../net/servers.js';
import { R } from './responses.js';
import { Pop3Session, type Pop3Deps } from './session.js';

export interface Pop3Front {
  /** Bound addresses, in the order of the listen config (port 0 → the real port). */
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  /** Stops accepting connections; live sessions go on. */
  stopAccepting(): Promise<void>;
  /** New certificate for connections from now on (implicit TLS and STLS). */
  reloadTls(tls: ServerTls): void;
  close(): Promise<void>;
}

/** Opens every configured POP3 listener. */
export async function startPop3Front(deps: Pop3Deps, listen: readonly ListenConfig[], limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>): Promise<Pop3Front> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const addresses: Pop3Front['addresses'] = [];
  const preLogin = new Map<string, number>();
  // One log line per refused source per minute, with the count: a NAT full of clients retrying
  // must not turn into a line per connection.
  const refusedLog = new Map<string, number>();
  const accept = (sock: Socket, starttls: boolean) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    const ip = sock.remoteAddress ?? '';
    const n = preLogin.get(ip) ?? 0;
    if (n >= limits.maxPreLoginPerIp) {
      const refused = (refusedLog.get(ip) ?? 0) + 1;
      refusedLog.set(ip, refused);
      if (refused === 1) {
        setTimeout(() => {
          deps.log.warn({ ip, limit: limits.maxPreLoginPerIp, refused: refusedLog.get(ip) }, 'POP3 connections refused: too many pre-login connections from this address (last minute)');
          refusedLog.delete(ip);
        }, 60_000).unref();
      }
      sock.on('error', () => {});
      sock.end(`${R.tooManyConnections}\r\n`);
      return;
    }
    preLogin.set(ip, n + 1);
    void new Pop3Session(sock, deps, starttls).run().finally(() => {
      const left = (preLogin.get(ip) ?? 1) - 1;
      if (left <= 0) preLogin.delete(ip); else preLogin.set(ip, left);
    });
  };
  for (const l of listen) {
    let server: Server;
    if (l.tls === 'implicit') {
      if (!deps.tls) throw new Error('an implicit-TLS POP3 listener needs tls.cert and tls.key');
      const tls = createTlsServer({ ...deps.tls.options, handshakeTimeout: 30_000 }, (sock) => accept(sock, false));
      tls.on('tlsClientError', (err, sock) => { deps.log.debug({ err: err.message, ip: sock.remoteAddress }, 'TLS handshake failed'); });
      server = tls;
    } else {
      server = createNetServer((sock) => accept(sock, l.tls === 'starttls'));
    }
    server.maxConnections = limits.maxConnections;
    server.on('error', (err) => deps.log.error({ err: err.message }, 'POP3 listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => { server.off('error', reject); resolve(); });
    });
    const addr = server.address();
    addresses.push({ host: l.host, port: typeof addr === 'object' && addr ? addr.port : l.port, tls: l.tls });
    servers.push(server);
    deps.log.info({ host: l.host, port: addresses.at(-1)!.port, tls: l.tls }, 'POP3 listening');
  }
  const stopAccepting = closer(servers);
  return {
    addresses,
    stopAccepting: async () => { void stopAccepting(); },
    reloadTls(tls) {
      deps.tls = tls;
      for (const s of servers) if (s instanceof TlsServer) s.setSecureContext(tls.options);
    },
    async close() {
      const closed = stopAccepting();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
