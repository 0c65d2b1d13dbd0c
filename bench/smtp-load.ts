/**
 * SMTP submission load on raw sockets: each message is its own connection with AUTH PLAIN
 * (what a mail app does when it sends), MAIL/RCPT/DATA one command at a time, QUIT.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Endpoint } from './imap-client.js';
import { cpuMeter } from './proc.js';
import { latency, timedLoop, type LatencySummary } from './stats.js';

class SmtpConn {
  private buf = '';
  private lines: string[] = [];
  private ready: string[] = [];
  private waiter: { resolve: (r: string) => void; reject: (e: Error) => void } | null = null;
  private err: Error | null = null;

  constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.pump();
    });
    const gone = (e?: Error) => {
      this.err ??= e ?? new Error('connection closed');
      this.waiter?.reject(this.err);
      this.waiter = null;
    };
    socket.on('error', gone);
    socket.on('close', () => gone());
  }

  /** Splits complete (possibly multi-line) replies off the buffer and hands them out in order. */
  private pump(): void {
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).replace(/\r$/, '');
      this.buf = this.buf.slice(nl + 1);
      this.lines.push(line);
      if (line[3] !== '-') {
        const reply = this.lines.join('\n');
        this.lines = [];
        const w = this.waiter;
        this.waiter = null;
        if (w) w.resolve(reply);
        else this.ready.push(reply);
      }
    }
  }

  reply(timeoutMs: number): Promise<string> {
    const early = this.ready.shift();
    if (early !== undefined) return Promise.resolve(early);
    if (this.err) return Promise.reject(this.err);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        reject(new Error('SMTP reply timed out'));
        this.socket.destroy();
      }, timeoutMs);
      this.waiter = {
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
    });
  }

  /** Writes `data` (if any) and expects a reply starting with `code`. */
  async expect(data: string | Buffer | null, code: string, timeoutMs = 60_000): Promise<string> {
    const r = this.reply(timeoutMs);
    if (data !== null) this.socket.write(data);
    const text = await r;
    if (!text.split('\n').at(-1)!.startsWith(code)) throw new Error(`expected ${code}, got ${text.slice(0, 200)}`);
    return text;
  }
}

function open(ep: Endpoint): SmtpConn {
  const s = ep.tls
    ? tlsConnect({ host: '127.0.0.1', port: ep.port, ca: ep.ca, servername: 'localhost' })
    : netConnect({ host: '127.0.0.1', port: ep.port });
  s.setNoDelay(true);
  return new SmtpConn(s);
}

/** One submission: connect, EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT. `body` must end in CRLF. */
export async function sendOne(ep: Endpoint, user: string, secret: string, from: string, to: string, body: Buffer): Promise<void> {
  const c = open(ep);
  try {
    await c.expect(null, '220');
    await c.expect('EHLO bench.example\r\n', '250');
    await c.expect(`AUTH PLAIN ${Buffer.from(`\0${user}\0${secret}`).toString('base64')}\r\n`, '235');
    await c.expect(`MAIL FROM:<${from}>\r\n`, '250');
    await c.expect(`RCPT TO:<${to}>\r\n`, '250');
    await c.expect('DATA\r\n', '354');
    c.socket.write(body);
    await c.expect('.\r\n', '250', 120_000);
    const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
    await c.expect('QUIT\r\n', '221').catch(() => undefined);
    c.socket.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
  } finally {
    c.socket.destroy();
  }
}

/** gateCpuPerGB: CPU-seconds of the proxy process per 10^9 bytes of message data (NaN: direct). */
export interface SmtpResult {
  msgsPerS: number;
  mbPerS: number;
  ok: number;
  errors: number;
  firstError: string | null;
  lat: LatencySummary;
  gateCpuPerGB: number;
}

/** `concurrency` senders until `maxMessages` or `budgetMs`; MB = 10^6 bytes of message data. `gatePid`: the proxy whose CPU is measured. */
export async function smtpLoad(
  ep: Endpoint,
  creds: { user: string; secret: string; from: string; to: string },
  body: Buffer,
  concurrency: number,
  maxMessages: number,
  budgetMs: number,
  gatePid?: number,
): Promise<SmtpResult> {
  const cpu = gatePid ? cpuMeter(gatePid) : () => Number.NaN;
  const r = await timedLoop({ concurrency, max: maxMessages, budgetMs, maxErrors: 10 }, () =>
    sendOne(ep, creds.user, creds.secret, creds.from, creds.to, body),
  );
  const n = r.samples.length;
  const gateCpuPerGB = cpu() / ((n * body.length) / 1e9);
  return {
    msgsPerS: n / r.seconds,
    mbPerS: (n * body.length) / 1e6 / r.seconds,
    ok: n,
    errors: r.errors,
    firstError: r.firstError,
    lat: latency(r.samples),
    gateCpuPerGB,
  };
}
