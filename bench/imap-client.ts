/**
 * A minimal IMAP client on a raw socket for the load generator: no client library in the hot
 * path. The reader splits lines with Buffer.indexOf and skips literal bodies ({n}) by counting,
 * without copying or decoding them; only tagged lines, continuations and (on request) untagged
 * lines become strings. Commands may be pipelined: each tag has its own resolver.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** Where a load generator connects: Dovecot directly, or mailgate. */
export interface Endpoint {
  port: number;
  tls: boolean;
  ca?: Buffer;
}

interface Pending {
  resolve: (line: string) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const LF = 0x0a;
const STAR = 0x2a;
const PLUS = 0x2b;

export class ImapConn {
  /** Bytes received, literals included. */
  bytesIn = 0;
  /** Untagged responses (logical lines) received. */
  untagged = 0;
  /** Called with each untagged line when set (not with literal contents). */
  onUntagged: ((line: string) => void) | null = null;
  private partial: Buffer | null = null;
  private literalLeft = 0;
  /** The current logical line continues after a literal: its kind is that of its first segment. */
  private contKind: number | null = null;
  private seq = 0;
  private readonly tagged = new Map<string, Pending>();
  private contWaiter: Pending | null = null;
  private greeting: Pending | null = null;
  private closedErr: Error | null = null;

  private constructor(
    readonly socket: Socket,
    viaOnread: boolean,
  ) {
    if (!viaOnread) socket.on('data', (d: Buffer) => this.feed(d));
    const gone = (e?: Error) => this.fail(e ?? new Error('connection closed'));
    socket.on('error', gone);
    socket.on('close', () => gone());
  }

  /** Connects and waits for the greeting (resolves with it). */
  static async open(ep: Endpoint, timeoutMs = 15_000): Promise<ImapConn> {
    let c: ImapConn | null = null;
    // Plain sockets read into one shared buffer (onread): no allocation per chunk. Safe because
    // feed() consumes each chunk synchronously and copies the only part it keeps (a partial line).
    const socket = ep.tls
      ? tlsConnect({ host: '127.0.0.1', port: ep.port, ca: ep.ca, servername: 'localhost' })
      : netConnect({
          host: '127.0.0.1',
          port: ep.port,
          onread: {
            buffer: READ_BUFFER,
            callback: (n, buf) => {
              c?.feed((buf as Buffer).subarray(0, n));
              return true;
            },
          },
        });
    socket.setNoDelay(true);
    c = new ImapConn(socket, !ep.tls);
    await new Promise<string>((resolve, reject) => {
      c.greeting = c.pending(resolve, reject, timeoutMs, 'greeting');
    });
    return c;
  }

  get closed(): boolean {
    return this.closedErr !== null;
  }

  private pending(resolve: (l: string) => void, reject: (e: Error) => void, timeoutMs: number, what: string): Pending {
    if (this.closedErr) {
      reject(this.closedErr);
      return { resolve, reject, timer: setTimeout(() => undefined, 0) };
    }
    const timer = setTimeout(() => {
      reject(new Error(`timed out waiting for ${what}`));
      this.socket.destroy();
    }, timeoutMs);
    return {
      resolve: (l) => {
        clearTimeout(timer);
        resolve(l);
      },
      reject: (e) => {
        clearTimeout(timer);
        reject(e);
      },
      timer,
    };
  }

  private fail(e: Error): void {
    if (this.closedErr) return;
    this.closedErr = e;
    for (const p of this.tagged.values()) p.reject(e);
    this.tagged.clear();
    this.contWaiter?.reject(e);
    this.greeting?.reject(e);
    this.contWaiter = this.greeting = null;
  }

  private feed(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, len - pos);
        this.literalLeft -= take;
        pos += take;
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) {
        const rest = chunk.subarray(pos);
        this.partial = this.partial ? Buffer.concat([this.partial, rest]) : Buffer.from(rest);
        return;
      }
      let line = chunk.subarray(pos, nl + 1);
      pos = nl + 1;
      if (this.partial) {
        line = Buffer.concat([this.partial, line]);
        this.partial = null;
      }
      this.onLine(line);
    }
  }

  private onLine(line: Buffer): void {
    const kind = this.contKind ?? line[0];
    this.contKind = null;
    const n = line.length;
    // A line ending in "{123}\r\n" announces a literal of 123 bytes; the response goes on after it.
    if (n >= 4 && line[n - 3] === 0x7d) {
      let i = n - 4;
      let v = 0;
      let mul = 1;
      while (i >= 0 && line[i]! >= 0x30 && line[i]! <= 0x39) {
        v += (line[i]! - 0x30) * mul;
        mul *= 10;
        i--;
      }
      if (i >= 0 && line[i] === 0x7b && mul > 1) {
        this.literalLeft = v;
        this.contKind = kind ?? null;
      }
    }
    if (this.contKind !== null) return; // the logical line is not complete yet
    if (kind === STAR) {
      this.untagged++;
      if (this.greeting) {
        const g = this.greeting;
        this.greeting = null;
        g.resolve(line.toString('latin1').trimEnd());
        return;
      }
      this.onUntagged?.(line.toString('latin1').trimEnd());
      return;
    }
    if (kind === PLUS) {
      const w = this.contWaiter;
      this.contWaiter = null;
      w?.resolve(line.toString('latin1').trimEnd());
      return;
    }
    const s = line.toString('latin1').trimEnd();
    const sp = s.indexOf(' ');
    const p = this.tagged.get(s.slice(0, sp));
    if (p) {
      this.tagged.delete(s.slice(0, sp));
      p.resolve(s);
    }
  }

  /** Sends `TAG text` and resolves with the tagged response line (OK, NO or BAD). */
  command(text: string, timeoutMs = 30_000): Promise<string> {
    const tag = `b${++this.seq}`;
    return new Promise<string>((resolve, reject) => {
      this.tagged.set(tag, this.pending(resolve, reject, timeoutMs, `${tag} ${text.slice(0, 20)}`));
      this.socket.write(`${tag} ${text}\r\n`);
    });
  }

  /** Like command(), but rejects unless the answer is OK. */
  async ok(text: string, timeoutMs = 30_000): Promise<string> {
    const line = await this.command(text, timeoutMs);
    if (!/^\S+ OK/i.test(line)) throw new Error(`${text.split(' ')[0] ?? ''} failed: ${line.slice(0, 200)}`);
    return line;
  }

  /** Sends raw text and waits for the next continuation ("+ …") line. */
  continuation(raw: string, timeoutMs = 30_000): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.contWaiter = this.pending(resolve, reject, timeoutMs, 'continuation');
      this.socket.write(raw);
    });
  }

  /** Starts IDLE; resolves with the tag to finish with done(). */
  async idle(timeoutMs = 30_000): Promise<{ done: () => Promise<string> }> {
    const tag = `b${++this.seq}`;
    const finished = new Promise<string>((resolve, reject) => {
      this.tagged.set(tag, this.pending(resolve, reject, 24 * 3600_000, 'IDLE end'));
    });
    finished.catch(() => undefined);
    await this.continuation(`${tag} IDLE\r\n`, timeoutMs);
    return {
      done: () => {
        this.socket.write('DONE\r\n');
        return finished;
      },
    };
  }

  close(): void {
    this.socket.destroy();
  }

  /** LOGOUT and wait (bounded) for the server to close. */
  async logout(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    const closed = new Promise<void>((r) => this.socket.once('close', () => r()));
    this.socket.write(`b${++this.seq} LOGOUT\r\n`);
    const t = setTimeout(() => this.socket.destroy(), timeoutMs);
    await closed;
    clearTimeout(t);
  }
}

/** IMAP quoted string. */
export function q(s: string): string {
  return `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

/** Opens a connection and logs in; rejects if either fails. */
export async function openLoggedIn(ep: Endpoint, user: string, secret: string, timeoutMs = 30_000): Promise<ImapConn> {
  const c = await ImapConn.open(ep, timeoutMs);
  try {
    await c.ok(`LOGIN ${q(user)} ${q(secret)}`, timeoutMs);
    return c;
  } catch (e) {
    c.close();
    throw e;
  }
}
