/**
 * POP3 bulk download: one session retrieves the whole mailbox with RETR 1..N pipelined (RFC 2449
 * PIPELINING, as fetchmail and Outlook batch them), repeated until `minMs` have passed. Raw
 * sockets, no client library: the reader only counts bytes and ".\r\n" terminators (the bench's
 * messages have no line starting with ".", so every "\r\n.\r\n" ends one message).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from './imap-client.js';
import { cpuMeter } from './proc.js';
import { msSince } from './stats.js';
import type { BulkResult } from './imap-load.js';

const END = Buffer.from('\r\n.\r\n');

/** A logged-in POP3 session that counts what it receives. */
class Pop3Conn {
  bytesIn = 0;
  private tail = Buffer.alloc(0);
  private ends = 0;
  private lineBuf = '';
  private waiters: Array<() => void> = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.bytesIn += d.length;
      // Terminators may straddle chunks: look at the last 4 bytes of the previous chunk too.
      const b = this.tail.length ? Buffer.concat([this.tail, d]) : d;
      for (let i = b.indexOf(END); i >= 0; i = b.indexOf(END, i + 3)) this.ends++;
      this.tail = Buffer.from(b.subarray(Math.max(0, b.length - 4)));
      if (this.lineBuf.length < 4096) this.lineBuf += d.subarray(0, 4096).toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private async wait(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.socket.destroyed) throw new Error('POP3 connection closed');
      if (Date.now() > deadline) throw new Error('POP3 timed out');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async greeting(): Promise<void> {
    await this.wait(() => this.lineBuf.includes('\r\n'), 30_000);
  }

  /** One command, its one-line answer ("+OK …" required). */
  async ok(line: string): Promise<string> {
    this.lineBuf = '';
    this.socket.write(`${line}\r\n`);
    await this.wait(() => this.lineBuf.includes('\r\n'), 30_000);
    const answer = this.lineBuf.slice(0, this.lineBuf.indexOf('\r\n'));
    if (!answer.startsWith('+OK')) throw new Error(`POP3 ${line.split(' ')[0]}: ${answer}`);
    return answer;
  }

  /** RETR 1..n pipelined; resolves when all n messages arrived. */
  async retrAll(n: number, timeoutMs: number): Promise<void> {
    const target = this.ends + n;
    this.socket.write(Array.from({ length: n }, (_, i) => `RETR ${i + 1}\r\n`).join(''));
    await this.wait(() => this.ends >= target, timeoutMs);
  }
}

async function open(ep: Endpoint, user: string, secret: string): Promise<Pop3Conn> {
  const socket: Socket = ep.tls
    ? tlsConnect({ host: '127.0.0.1', port: ep.port, ca: ep.ca, servername: 'localhost' })
    : netConnect({ host: '127.0.0.1', port: ep.port });
  await new Promise<void>((res, rej) => {
    socket.once(ep.tls ? 'secureConnect' : 'connect', () => res());
    socket.once('error', rej);
  });
  socket.setNoDelay(true);
  const c = new Pop3Conn(socket);
  await c.greeting();
  await c.ok(`USER ${user}`);
  await c.ok(`PASS ${secret}`);
  return c;
}

/** Downloads the mailbox of `user` (`expected` messages) repeatedly; MB = 10^6 bytes. */
export async function pop3Retr(
  ep: Endpoint,
  who: { user: string; secret: string; gatePid: number | null },
  expected: number,
  o: { minMs: number; maxPasses: number; budgetMs: number },
): Promise<BulkResult> {
  const c = await open(ep, who.user, who.secret);
  try {
    const stat = await c.ok('STAT');
    if (Number(stat.split(' ')[1]) !== expected) throw new Error(`POP3 STAT says ${stat}, expected ${expected} messages`);
    await c.retrAll(expected, o.budgetMs); // warm-up pass, untimed
    const gateCpu = who.gatePid ? cpuMeter(who.gatePid) : () => Number.NaN;
    const ownCpu = cpuMeter(process.pid);
    const bytes0 = c.bytesIn;
    const t0 = process.hrtime.bigint();
    const deadline = Date.now() + o.budgetMs;
    const enough = Date.now() + o.minMs;
    let done = 0;
    for (let i = 0; i < o.maxPasses && Date.now() < deadline && (i === 0 || Date.now() < enough); i++) {
      await c.retrAll(expected, o.budgetMs);
      done++;
    }
    if (done === 0) throw new Error('POP3 RETR: no complete pass within the time budget');
    const seconds = msSince(t0) / 1000;
    const bytes = c.bytesIn - bytes0;
    const gb = bytes / 1e9;
    return { mbPerS: bytes / 1e6 / seconds, bytes, seconds, gateCpuPerGB: gateCpu() / gb, loadgenCpuPerGB: ownCpu() / gb };
  } finally {
    c.socket.destroy();
  }
}
