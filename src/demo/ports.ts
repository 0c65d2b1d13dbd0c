/** Free TCP port discovery on loopback for the real-component testbed. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Ask the kernel for a free TCP port on `host` (listen on port 0, read the port, close).
 * There is an unavoidable race between closing and the caller binding the port; callers that
 * spawn external servers should be prepared to retry on EADDRINUSE.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: could not read the bound address'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/**
 * `n` distinct free ports. All listeners are held open until every port is known, so the ports
 * returned are pairwise distinct.
 */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      srv.unref();
      servers.push(srv);
      const port = await new Promise<number>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host, port: 0, exclusive: true }, () => {
          const addr = srv.address();
          if (addr === null || typeof addr === 'string') reject(new Error('freePorts: could not read the bound address'));
          else resolve(addr.port);
        });
      });
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  }
}

export interface BannerOptions {
  host?: string;
  /** Total time budget, default 10 000 ms. */
  timeoutMs?: number;
  /** Stop waiting early (e.g. the server process died); the returned error message is thrown. */
  abort?: () => string | null;
}

/** Connect once and resolve with the first line the server sends, or reject. */
function readFirstLine(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    let done = false;
    const sock = net.connect({ host, port });
    const finish = (err: Error | null, line?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`no greeting from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i >= 0) finish(null, buf.slice(0, i).replace(/\r$/, ''));
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`connection to ${host}:${port} closed before a greeting`)));
  });
}

/**
 * Poll `host:port` until a TCP connect succeeds and the first line the server sends matches
 * `expect` (e.g. /^\* OK/ for IMAP, /^220 / for SMTP). Resolves with that line.
 */
export async function waitForBanner(port: number, expect: RegExp, opts: BannerOptions = {}): Promise<string> {
  const host = opts.host ?? '127.0.0.1';
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last = 'no attempt';
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw new Error(aborted);
    try {
      const line = await readFirstLine(host, port, Math.max(200, Math.min(3000, deadline - Date.now())));
      if (expect.test(line)) return line;
      last = `unexpected greeting ${JSON.stringify(line)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${host}:${port} (${last})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True if something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const sock = net.connect({ host, port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Poll until none of `ports` accepts connections (or the timeout, default 10 s, elapses). */
export async function waitForPortsClosed(ports: number[], host = '127.0.0.1', timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await Promise.all(ports.map((p) => isPortOpen(p, host)));
    if (!open.some(Boolean)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * How many TCP sockets are LISTENing on 127.0.0.1:`port` (Linux /proc/net/tcp), or null if that
 * cannot be read. Postfix binds its inet services with SO_REUSEPORT, so a second instance that
 * happened to get the same port would *share* it silently instead of failing: launchers use
 * this to detect such a collision.
 */
export function countLoopbackListeners(port: number): number | null {
  let text: string;
  try {
    text = readFileSync('/proc/net/tcp', 'latin1');
  } catch {
    return null;
  }
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const anyAddr = `00000000:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if ((f[1] === local || f[1] === anyAddr) && f[3] === '0A') n++;
  }
  return n;
}
