/**
 * The operators' listener: Prometheus `/metrics`, `/healthz` (the process answers) and `/readyz`
 * (send it traffic: not while draining, not while the store is unreachable) for a load balancer.
 * Plain HTTP on its own address, meant for the internal network; it serves nothing secret.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface OpsDeps {
  metrics: Metrics;
  /** Resolves when the store answers; rejects or hangs when it does not. */
  pingStore(): Promise<unknown>;
  draining(): boolean;
  readyTimeoutMs?: number;
  /** The /metrics text when it is not `metrics.registry` alone (a cluster supervisor adds up its workers'). */
  scrape?: () => Promise<string>;
}

export interface OpsHandle {
  address: { host: string; port: number };
  close(): Promise<void>;
}

async function ready(deps: OpsDeps): Promise<{ ok: boolean; why: string }> {
  if (deps.draining()) return { ok: false, why: 'draining' };
  const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), deps.readyTimeoutMs ?? 1_000).unref());
  try {
    await Promise.race([deps.pingStore(), timeout]);
    deps.metrics.storeUp(true);
    return { ok: true, why: 'ready' };
  } catch {
    deps.metrics.storeUp(false);
    return { ok: false, why: 'store unreachable' };
  }
}

/** Starts the listener; resolves once it listens. */
export async function startOps(listen: { host: string; port: number }, deps: OpsDeps): Promise<OpsHandle> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n');
    if (path === '/healthz') return text(200, 'ok\n');
    if (path === '/readyz') {
      void ready(deps).then((r) => text(r.ok ? 200 : 503, `${r.why}\n`));
      return;
    }
    if (path === '/metrics') {
      void (deps.scrape ?? (() => deps.metrics.registry.metrics()))().then(
        (m) => text(200, m, deps.metrics.registry.contentType),
        () => text(500, 'metrics failed\n'),
      );
      return;
    }
    text(404, 'not found: /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    address: { host: a.address, port: a.port },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
