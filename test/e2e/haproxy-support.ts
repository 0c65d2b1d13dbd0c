/** Helpers of the HAProxy suites (haproxy.test.ts, haproxy-failover.test.ts). */
import { connect } from 'node:net';
import type { Gate } from '../support/gate.js';

/** Listeners on port 0 that take a PROXY header from HAProxy (127.0.0.1) only. */
export function behind(modes: Array<'starttls' | 'implicit'>): object[] {
  return modes.map((tls) => ({ host: '127.0.0.1', port: 0, tls, proxy_protocol: true, proxy_from: ['127.0.0.1/32'] }));
}

/** Connects from `from`, sends `bytes`, and reports what came back before the server closed, and when. */
export function nothingThenClose(port: number, from: string, bytes: string): Promise<{ received: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let received = '';
    const s = connect({ host: '127.0.0.1', port, localAddress: from });
    s.setEncoding('utf8');
    s.on('connect', () => {
      if (bytes) s.write(bytes);
    });
    s.on('data', (d: string) => (received += d));
    s.on('error', () => {});
    s.on('close', () => resolve({ received, ms: Date.now() - t0 }));
    setTimeout(() => s.destroy(), 10_000).unref();
  });
}

/** The status of an instance's /readyz. */
export async function readyz(g: Gate): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${g.server.ops!.address.port}/readyz`).catch(() => null);
  return r?.status ?? 0;
}

export { waitUntil } from '../support/poll.js';
