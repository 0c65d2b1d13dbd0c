/**
 * IMAP listeners: STARTTLS-style (clear until STARTTLS) and implicit TLS. Each accepted socket
 * becomes an ImapSession; the listener keeps track of them so shutdown can end them.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { ListenConfig } from '../../config/types.js';
import { ImapSession, type ImapDeps } from './session.js';

export interface ImapFront {
  /** Bound addresses, in the order of the listen config (port 0 → the real port). */
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  close(): Promise<void>;
}

export async function startImapFront(deps: ImapDeps, listen: readonly ListenConfig[]): Promise<ImapFront> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); };
  const addresses: ImapFront['addresses'] = [];
  for (const l of listen) {
    let server: Server;
    if (l.tls === 'implicit') {
      if (!deps.tls) throw new Error('an implicit-TLS IMAP listener needs tls.cert and tls.key');
      const tls = createTlsServer({ ...deps.tls.options, handshakeTimeout: 30_000 }, (sock) => {
        track(sock);
        void new ImapSession(sock, deps, false).run();
      });
      tls.on('tlsClientError', (err, sock) => { deps.log.debug({ err: err.message, ip: sock.remoteAddress }, 'TLS handshake failed'); });
      server = tls;
    } else {
      server = createNetServer((sock) => {
        track(sock);
        void new ImapSession(sock, deps, l.tls === 'starttls').run();
      });
    }
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
  return {
    addresses,
    async close() {
      // server.close() waits for open connections, so end them first.
      const closed = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
