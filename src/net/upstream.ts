/**
 * Connecting to an upstream mail server, shared by the IMAP and SMTP fronts: TCP or implicit TLS
 * with CA verification, a connect timeout, and one error type whose `stage` tells the admin
 * where it failed.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { UpstreamConfig } from '../config/types.js';
import { RingReads } from './reads.js';

/** The upstream could not be used; the front answers "temporarily unavailable". */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly stage: 'connect' | 'tls' | 'greeting' | 'login' | 'protocol' | 'closed',
  ) {
    super(message);
  }
}

/** TLS client options for the upstream: its CA, the name to verify (an IP literal is checked against IP SANs). */
export function upstreamTlsOptions(cfg: UpstreamConfig): ConnectionOptions {
  return {
    host: cfg.host,
    port: cfg.port,
    servername: cfg.servername ?? (/^[\d.:]+$/.test(cfg.host) ? undefined : cfg.host),
    ca: cfg.ca ?? undefined,
    rejectUnauthorized: cfg.rejectUnauthorized,
    minVersion: 'TLSv1.2',
  };
}

/** The one no-op error listener: a socket whose errors another listener reports (or that is being dropped) must never crash the process; shared, so it is recognised and added once. */
export const ignoreError = (): void => {};

/** Opens the TCP (or implicit-TLS) connection, low-latency for the login dialogue. */
export function connectUpstream(cfg: UpstreamConfig): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const implicit = cfg.tls === 'implicit';
    // Plain TCP reads into reused buffers once spliced (reads.ts). Not under STARTTLS: the TLS
    // layer reads the socket itself after the upgrade.
    const ring = cfg.tls === 'none' ? new RingReads() : null;
    const socket: Socket = implicit
      ? tlsConnect(upstreamTlsOptions(cfg))
      : netConnect({ host: cfg.host, port: cfg.port, ...(ring ? { onread: ring.onread } : {}) });
    ring?.bind(socket);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new UpstreamError(`connecting to ${cfg.host}:${cfg.port} timed out`, 'connect'));
    }, cfg.connectTimeoutMs);
    const failed = (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const stage = implicit && !e.code?.startsWith('E') ? 'tls' : 'connect';
      reject(new UpstreamError(`cannot reach the upstream ${cfg.host}:${cfg.port}: ${e.message}`, stage));
    };
    socket.once('error', failed);
    socket.once(implicit ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      // Left attached, `failed` would keep this closure's timer, cfg and promise for the session's
      // whole life. The caller attaches its own error handler before any I/O can run.
      socket.off('error', failed);
      socket.on('error', ignoreError);
      resolve(socket);
    });
  });
}
