/**
 * An in-memory connected pair of sockets for pure front tests: what one side writes the other
 * reads, ending or destroying one side ends the other. It has the few Socket members the fronts
 * and net/splice.ts use (remote address, keep-alive, no-delay), so a whole login and splice run
 * without a port, a server or a Dovecot.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';

/** Two connected fake sockets; `a` appears to come from `remoteIp`. */
export function socketPair(remoteIp = '127.0.0.9', remotePort = 40_000): [Socket, Socket] {
  let a!: Duplex;
  let b!: Duplex;
  const make = (peer: () => Duplex) => new Duplex({
    read() {},
    write(chunk, _enc, cb) { peer().push(chunk); cb(); },
    final(cb) { peer().push(null); cb(); },
    destroy(err, cb) { const p = peer(); if (!p.destroyed) { p.push(null); p.destroy(); } cb(err); },
  });
  a = make(() => b);
  b = make(() => a);
  for (const s of [a, b]) Object.assign(s, { setKeepAlive() { return s; }, setNoDelay() { return s; }, bytesWritten: 0 });
  Object.assign(a, { remoteAddress: remoteIp, remotePort });
  Object.assign(b, { remoteAddress: '127.0.0.1', remotePort: 110 });
  return [a as unknown as Socket, b as unknown as Socket];
}

/** Reads CRLF lines from the test's end of a pair. */
export class LineTap {
  private buf = '';
  closed = false;
  constructor(readonly socket: Socket) {
    // Decoded here, not with setEncoding: a multi-byte character may span two chunks.
    const dec = new StringDecoder('utf8');
    socket.on('data', (d: Buffer) => { this.buf += dec.write(d); });
    socket.on('end', () => { this.closed = true; });
    socket.on('close', () => { this.closed = true; });
  }

  send(text: string): void { this.socket.write(text); }

  /** Lines up to and including the first that matches `re`. */
  async until(re: RegExp, timeoutMs = 3_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines = this.buf.split('\r\n');
      const i = lines.slice(0, -1).findIndex((l) => re.test(l));
      if (i >= 0) { this.buf = lines.slice(i + 1).join('\r\n'); return lines.slice(0, i + 1); }
      if (this.closed) throw new Error(`closed while waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(this.buf)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Everything received and not yet consumed. */
  get pending(): string { return this.buf; }

  async closedWithin(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return this.closed;
  }
}
