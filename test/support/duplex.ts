/**
 * In-memory connections for session tests without sockets (as pg-gateway's duplex pair): what
 * one end writes the other reads, and each end looks enough like a net.Socket (addresses, no-op
 * socket options) for the fronts. TLS can even run over it (new TLSSocket(end)).
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export interface Ends {
  server: Socket;
  client: Duplex;
}

/** A connected pair: `server` is what the front gets, `client` is the test's side. */
export function duplexPair(remote = { ip: '192.0.2.10', port: 40000 }): Ends {
  let a!: Duplex;
  let b!: Duplex;
  // allowHalfOpen false: like a TCP socket, an end that reads EOF ends its own side too.
  const make = (other: () => Duplex) =>
    new Duplex({
      allowHalfOpen: false,
      read() {},
      write(chunk: Buffer, _enc, cb) {
        const o = other();
        if (!o.destroyed) o.push(chunk);
        cb();
      },
      final(cb) {
        const o = other();
        if (!o.destroyed) o.push(null);
        cb();
      },
      destroy(err, cb) {
        const o = other();
        if (!o.destroyed && !o.readableEnded) o.push(null);
        cb(err);
      },
    });
  a = make(() => b);
  b = make(() => a);
  const socketish = {
    remoteAddress: remote.ip,
    remotePort: remote.port,
    localAddress: '192.0.2.1',
    localPort: 587,
    setNoDelay() {},
    setKeepAlive() {},
  };
  Object.assign(a, socketish);
  return { server: a as unknown as Socket, client: b };
}

/** Reads CRLF lines from one end: `until(re)` returns the lines up to the first match. */
export class LineTap {
  private buf = '';
  private waiters: Array<() => void> = [];
  ended = false;

  constructor(readonly end: Duplex) {
    end.on('data', (d: Buffer) => {
      this.buf += d.toString('latin1');
      this.wake();
    });
    end.on('end', () => {
      this.ended = true;
      this.wake();
    });
    end.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Everything received and not yet taken. */
  get pending(): string {
    return this.buf;
  }

  async until(re: RegExp, timeoutMs = 2_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      const i = lines.slice(0, -1).findIndex((l) => re.test(l));
      if (i >= 0) {
        this.buf = lines.slice(i + 1).join('\r\n');
        return lines.slice(0, i + 1);
      }
      if (this.ended) throw new Error(`ended while waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves once the other side has ended the connection. */
  async closed(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.ended;
  }
}
