/**
 * A raw line client for protocol transcripts in tests (C: a1 LOGIN … / S: a1 OK …): no client
 * library between the test and the wire.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';

export class RawClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(public socket: Socket | TLSSocket) {
    this.bind();
  }

  private bind(): void {
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => {
      this.buf += d;
      this.notify();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    this.socket.on('error', () => {
      this.closed = true;
      this.notify();
    });
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** `proxyHeader`: written first, before TLS (a load balancer's PROXY protocol header). */
  static async connect(
    port: number,
    opts: { tls?: boolean; ca?: string; localAddress?: string; proxyHeader?: string | Buffer } = {},
  ): Promise<RawClient> {
    const plain = netConnect({ host: '127.0.0.1', port, localAddress: opts.localAddress });
    await new Promise<void>((res, rej) => {
      plain.once('connect', () => res());
      plain.once('error', rej);
    });
    // Corked: the header and the first protocol bytes (a TLS ClientHello) leave in one segment, the
    // harder case for the server (what follows the header must be put back for TLS to read).
    if (opts.proxyHeader !== undefined) {
      plain.cork();
      plain.write(opts.proxyHeader);
      setTimeout(() => plain.uncork(), 20);
    }
    if (!opts.tls) return new RawClient(plain);
    const socket = tlsConnect({ socket: plain, ca: opts.ca ? readFileSync(opts.ca) : undefined, servername: 'localhost' });
    await new Promise<void>((res, rej) => {
      socket.once('secureConnect', () => res());
      socket.once('error', rej);
    });
    return new RawClient(socket);
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Waits for a line matching `re` (lines before it are returned too). */
  async until(re: RegExp, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      const idx = lines.slice(0, -1).findIndex((l) => re.test(l));
      if (idx >= 0) {
        const taken = lines.slice(0, idx + 1);
        this.buf = lines.slice(idx + 1).join('\r\n');
        return taken;
      }
      if (this.closed) throw new Error(`connection closed while waiting for ${re}; got: ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${re}; got: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Sends a tagged command and returns the lines up to its tagged answer (last element). */
  async cmd(tag: string, text: string, timeoutMs?: number): Promise<string[]> {
    this.send(`${tag} ${text}\r\n`);
    return this.until(new RegExp(`^${tag} (OK|NO|BAD)`), timeoutMs);
  }

  /** Upgrades to TLS after a STARTTLS OK. */
  async starttls(ca: string): Promise<void> {
    this.socket.removeAllListeners('data');
    const tls = tlsConnect({ socket: this.socket, ca: readFileSync(ca), servername: 'localhost' });
    await new Promise<void>((res, rej) => {
      tls.once('secureConnect', () => res());
      tls.once('error', rej);
    });
    this.socket = tls;
    this.bind();
  }

  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}
