/**
 * IMAP listeners: STARTTLS-style (clear until STARTTLS) and implicit TLS. Each accepted socket
 * becomes an ImapSession; the listener keeps track of them so shutdown can end them.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer } from 'node:tls';
import type { Limits, ListenConfig } from '../../config/types.js';
import { R } from './responses.js';
import type { ServerTls } from '../../net/tls.js';
import { closer } from '../../net/servers.js';
import { ImapSession, type ImapDeps } from './session.js';

export interface ImapFront {
  /** Bound addresses, in the order of the listen config (port 0 → the real port). */
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  /** Stops accepting connections; live sessions go on. */
  stopAccepting(): Promise<void>;
  /** New certificate for connections from now on (implicit TLS and STARTTLS). */
  reloadTls(tls: ServerTls): void;
  close(): Promise<void>;
}

export async function startImapFront(deps: ImapDeps, listen: readonly ListenConfig[], limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>): Promise<ImapFront> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); };
  const addresses: ImapFront['addresses'] = [];
  // Connections still in the pre-login phase, per address: one source cannot hold every slot.
  const preLogin = new Map<string, number>();
  const accept = (sock: Socket, starttls: boolean) => {
    track(sock);
    const ip = sock.remoteAddress ?? '';
    const n = preLogin.get(ip) ?? 0;
    if (n >= limits.maxPreLoginPerIp) {
      deps.log.warn({ ip, limit: limits.maxPreLoginPerIp }, 'connection refused: too many pre-login connections from this address');
      sock.on('error', () => {});
      sock.end(`${R.tooManyConnections}\r\n`);
      return;
    }
    preLogin.set(ip, n + 1);
    void new ImapSession(sock, deps, starttls).run().finally(() => {
      const left = (preLogin.get(ip) ?? 1) - 1;
      if (left <= 0) preLogin.delete(ip); else preLogin.set(ip, left);
    });
  };
  for (const l of listen) {
    let server: Server;
    if (l.tls === 'implicit') {
      if (!deps.tls) throw new Error('an implicit-TLS IMAP listener needs tls.cert and tls.key');
      const tls = createTlsServer({ ...deps.tls.options, handshakeTimeout: 30_000 }, (sock) => accept(sock, false));
      tls.on('tlsClientError', (err, sock) => { deps.log.debug({ err: err.message, ip: sock.remoteAddress }, 'TLS handshake failed'); });
      server = tls;
    } else {
      server = createNetServer((sock) => accept(sock, l.tls === 'starttls'));
    }
    server.maxConnections = limits.maxConnections;
    server.on('error', (err) => deps.log.error({ err: err.message }, 'IMAP listener error'));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(l.port, l.host, () => { server.off('error', reject); resolve(); });
    });
    const addr = server.address();
    addresses.push({ host: l.host, port: typeof addr === 'object' && addr ? addr.port : l.port, tls: l.tls });
    servers.push(server);
    deps.log.info({ host: l.host, port: addresses.at(-1)!.port, tls: l.tls }, 'IMAP listening');
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
