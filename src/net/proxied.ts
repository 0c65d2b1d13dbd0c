/**
 * The socket side of the PROXY protocol (net/proxy-protocol.ts): on a listener with
 * `proxy_protocol: true` the header is read before anything else — before the greeting, before a
 * TLS handshake — and the client's address it carries replaces the balancer's for everything
 * downstream (guard, audit, sessions, pre-login caps, ID/XCLIENT). A connection from outside
 * `proxy_from`, or one without a valid header in time, is closed without a byte sent.
 */
import type { Socket } from 'node:net';
import type { NetworkSet } from '../core/enforcement.js';
import { unmapIpv4 } from '../core/ip.js';
import { parseProxyHeader, type Peer } from './proxy-protocol.js';
import { ignoreError } from './upstream.js';

export type { Peer } from './proxy-protocol.js';

/** A header not complete by then is not coming: balancers send it with the connection. */
export const PROXY_HEADER_TIMEOUT_MS = 3_000;

export interface ProxyHeaderOptions {
  /** Who may send a header (the load balancers). */
  from: NetworkSet;
  timeoutMs?: number;
  /** Called once per dropped connection, with the TCP peer and why (for a rate-limited log). */
  refused(ip: string, reason: string): void;
}

/** Sockets handed to a server that reads the address off the socket itself (the portal's HTTP server). */
const announced = new WeakMap<Socket, Peer>();

/** Records the client's address of a socket whose header was read (for peerOf). */
export function announcePeer(sock: Socket, peer: Peer): void {
  announced.set(sock, peer);
}

/** The client's address: what its PROXY header said, else the TCP peer. */
export function peerOf(sock: Socket): Peer {
  return announced.get(sock) ?? socketPeer(sock);
}

/** The TCP peer of a socket, as the sessions write addresses (IPv4-mapped → IPv4). */
export function socketPeer(sock: Socket): Peer {
  return { ip: unmapIpv4(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 };
}

/**
 * Reads the PROXY header off a fresh socket. Resolves the client's address (the socket's own for
 * LOCAL/UNKNOWN), with the bytes after the header put back for the protocol; or null once the
 * socket has been destroyed.
 */
export function readProxyHeader(sock: Socket, o: ProxyHeaderOptions): Promise<Peer | null> {
  const own = socketPeer(sock);
  sock.on('error', ignoreError);
  if (own.ip === '') {
    // Gone before we looked (a load balancer's TCP health check): nothing to refuse or log.
    sock.destroy();
    return Promise.resolve(null);
  }
  if (!o.from.has(own.ip)) {
    o.refused(own.ip, 'PROXY header from an address not in proxy_from');
    sock.destroy();
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (peer: Peer | null, reason?: string) => {
      clearTimeout(timer);
      sock.off('data', onData);
      sock.off('close', onClose);
      if (peer === null) {
        if (reason) o.refused(own.ip, reason);
        sock.destroy();
      }
      resolve(peer);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.kind === 'incomplete') return;
      if (r.kind === 'invalid') return done(null, r.reason);
      // The protocol's first bytes (a TLS ClientHello, a pipelined command) go back in the stream;
      // a TLSSocket wrapped around it later reads them from there too.
      sock.pause();
      if (r.consumed < buf.length) sock.unshift(buf.subarray(r.consumed));
      done(r.peer ?? own);
    };
    const onClose = () => done(null);
    const timer = setTimeout(() => done(null, 'no PROXY header in time'), o.timeoutMs ?? PROXY_HEADER_TIMEOUT_MS);
    timer.unref();
    sock.on('data', onData);
    sock.once('close', onClose);
  });
}
