/**
 * The upstream side of an SMTP session before the splice: one connection to the real submission
 * server (connect, 220, EHLO, STARTTLS with certificate verification, EHLO) and the login on the
 * user's behalf (XCLIENT LOGIN= or AUTH PLAIN with an authzid). After that the socket is detached
 * and spliced: mailgate never parses a transaction.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connectUpstream, ignoreError, upstreamTlsOptions, UpstreamError } from '../../net/upstream.js';
import type { UpstreamConfig } from '../../config/types.js';
import { ReplyReader, replyText, xtext, type Reply } from './reply.js';

/** Stages at which the upstream could not be used; all of them mean "454, try again later". */
export { UpstreamError };
export type UpstreamStage = UpstreamError['stage'];

/** Reply deadline for commands without their own (RFC 5321 §4.5.3.2 minimum). */
const COMMAND_TIMEOUT_MS = 5 * 60_000;

/** EHLO keywords (upper case) → their parameters. */
export type Extensions = Map<string, string>;

export function parseEhlo(r: Reply): Extensions {
  const ext: Extensions = new Map();
  for (const line of r.lines.slice(1)) {
    const m = /^([A-Za-z0-9][A-Za-z0-9-]*)(?:[ =](.*))?$/.exec(line.trim());
    if (m) ext.set(m[1]!.toUpperCase(), (m[2] ?? '').trim());
  }
  return ext;
}

export class SmtpUpstream {
  extensions: Extensions = new Map();
  /** The 220 greeting's text (mailgate doctor reads the server family from it). */
  greeting = '';
  /** Set once the connection is unusable (closed by the peer, timed out, protocol error). */
  failure: UpstreamError | null = null;
  private readonly reader = new ReplyReader();
  private readonly replies: Reply[] = [];
  private waiter: { resolve: (r: Reply) => void; reject: (e: UpstreamError) => void } | null = null;
  private readonly lostListeners: Array<(err: UpstreamError) => void> = [];
  private closing = false;

  private constructor(
    private socket: Socket,
    private readonly cfg: UpstreamConfig,
    private readonly ehloName: string,
  ) {
    this.attach(socket);
  }

  /** Connects, reads the greeting, says EHLO and does STARTTLS as configured. */
  static async open(cfg: UpstreamConfig, ehloName: string): Promise<SmtpUpstream> {
    const up = new SmtpUpstream(await connectUpstream(cfg), cfg, ehloName);
    try {
      const greeting = await up.read(cfg.connectTimeoutMs);
      if (greeting.code !== 220) throw new UpstreamError(`upstream greeting: ${replyText(greeting)}`, 'greeting');
      up.greeting = replyText(greeting);
      await up.ehlo(cfg.connectTimeoutMs);
      if (cfg.tls === 'starttls') {
        if (!up.extensions.has('STARTTLS')) throw new UpstreamError('the upstream does not offer STARTTLS', 'tls');
        const r = await up.command('STARTTLS', cfg.connectTimeoutMs);
        if (r.code !== 220) throw new UpstreamError(`upstream refused STARTTLS: ${replyText(r)}`, 'tls');
        await up.upgrade();
        await up.ehlo(cfg.connectTimeoutMs);
      }
      return up;
    } catch (e) {
      up.destroy();
      throw e instanceof UpstreamError ? e : new UpstreamError((e as Error).message, 'protocol');
    }
  }

  get alive(): boolean {
    return this.failure === null && !this.socket.destroyed;
  }

  /** Alive and nothing unread (a pooled connection the upstream said goodbye on is not idle). */
  get idle(): boolean {
    return this.alive && this.replies.length === 0 && !this.reader.pending;
  }

  has(ext: string): boolean {
    return this.extensions.has(ext.toUpperCase());
  }

  /** Called once if the connection fails or the upstream closes it (not when mailgate does). */
  onLost(fn: (err: UpstreamError) => void): void {
    this.lostListeners.push(fn);
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onGone);
    socket.on('close', this.onGone);
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.replies.push(...this.reader.push(chunk));
    } catch (e) {
      this.fail(new UpstreamError((e as Error).message, 'protocol'));
      return;
    }
    if (this.waiter && this.replies.length > 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(this.replies.shift()!);
    }
  };

  private readonly onGone = (e?: unknown): void => {
    this.fail(
      new UpstreamError(e instanceof Error ? `upstream connection failed: ${e.message}` : 'the upstream closed the connection', 'closed'),
    );
  };

  /** Marks the connection unusable (once), wakes a pending read and tells the listeners. */
  private fail(err: UpstreamError, destroy = true): void {
    if (this.failure) return;
    this.failure = err;
    if (destroy) this.socket.destroy();
    const w = this.waiter;
    this.waiter = null;
    w?.reject(err);
    const listeners = this.lostListeners.splice(0);
    if (!this.closing) for (const fn of listeners) fn(err);
  }

  /** The next reply; rejects when the connection is gone or the deadline passes. */
  read(timeoutMs = COMMAND_TIMEOUT_MS): Promise<Reply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => this.fail(new UpstreamError(`no reply from the upstream within ${timeoutMs} ms`, 'protocol')), timeoutMs);
      this.waiter = {
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      };
    });
  }

  /** Sends one command line and reads its reply. */
  command(line: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<Reply> {
    const stale = this.replies.shift();
    if (stale)
      this.fail(new UpstreamError(`unexpected reply from the upstream: ${replyText(stale)}`, stale.code === 421 ? 'closed' : 'protocol'));
    // Values come from the client (its EHLO name, its address); a line break would inject a command.
    if (/[\r\n\0]/.test(line)) this.fail(new UpstreamError('refusing to send a command with a line break', 'protocol'));
    if (this.failure) return Promise.reject(this.failure);
    this.socket.write(`${line}\r\n`);
    return this.read(timeoutMs);
  }

  async ehlo(timeoutMs = COMMAND_TIMEOUT_MS, name = this.ehloName): Promise<void> {
    const r = await this.command(`EHLO ${name}`, timeoutMs);
    if (r.code !== 250) throw new UpstreamError(`upstream refused EHLO: ${replyText(r)}`, 'greeting');
    this.extensions = parseEhlo(r);
  }

  private async upgrade(): Promise<void> {
    if (this.reader.pending || this.replies.length) throw new UpstreamError('upstream sent data after its STARTTLS reply', 'tls');
    const plain = this.socket;
    plain.off('data', this.onData).off('error', this.onGone).off('close', this.onGone);
    plain.on('error', ignoreError); // reported through the TLS socket
    const tls: TLSSocket = tlsConnect({ ...upstreamTlsOptions(this.cfg), socket: plain });
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('TLS handshake timed out')), this.cfg.connectTimeoutMs);
        tls.once('secureConnect', () => {
          clearTimeout(t);
          resolve();
        });
        tls.once('error', (e) => {
          clearTimeout(t);
          reject(e);
        });
      });
    } catch (e) {
      tls.destroy();
      plain.destroy();
      throw new UpstreamError(`TLS with the upstream failed: ${(e as Error).message}`, 'tls');
    }
    this.socket = tls;
    this.attach(tls);
  }

  /**
   * XCLIENT (Postfix): the upstream answers with a new 220 greeting and wants EHLO again.
   * Only attributes the upstream announced are sent; returns the refusal, or null on success.
   */
  async xclient(attrs: Array<[string, string]>, heloName: string): Promise<Reply | null> {
    const offered = new Set((this.extensions.get('XCLIENT') ?? '').toUpperCase().split(/\s+/));
    const line = attrs
      .filter(([k]) => offered.has(k))
      .map(([k, v]) => `${k}=${xtext(v)}`)
      .join(' ');
    if (!this.has('PIPELINING')) {
      const r = await this.command(`XCLIENT ${line}`, this.cfg.connectTimeoutMs);
      if (r.code !== 220) return r;
      await this.ehlo(this.cfg.connectTimeoutMs, heloName);
      return null;
    }
    // RFC 2920: XCLIENT may be followed by the EHLO the server asks for next in the same write
    // (EHLO ends the group); one round trip instead of two. A refused XCLIENT leaves an EHLO
    // answer behind, which is read and dropped so the next command's reply is its own.
    const [r, ehlo] = await this.commands([`XCLIENT ${line}`, `EHLO ${heloName}`], this.cfg.connectTimeoutMs);
    if (r!.code !== 220) return r!;
    if (ehlo!.code !== 250) throw new UpstreamError(`upstream refused EHLO: ${replyText(ehlo!)}`, 'greeting');
    this.extensions = parseEhlo(ehlo!);
    return null;
  }

  /** Sends command lines in one write and reads one reply per line, in order. */
  async commands(lines: string[], timeoutMs = COMMAND_TIMEOUT_MS): Promise<Reply[]> {
    const stale = this.replies.shift();
    if (stale)
      this.fail(new UpstreamError(`unexpected reply from the upstream: ${replyText(stale)}`, stale.code === 421 ? 'closed' : 'protocol'));
    if (lines.some((l) => /[\r\n\0]/.test(l))) this.fail(new UpstreamError('refusing to send a command with a line break', 'protocol'));
    if (this.failure) throw this.failure;
    this.socket.write(lines.map((l) => `${l}\r\n`).join(''));
    const out: Reply[] = [];
    while (out.length < lines.length) out.push(await this.read(timeoutMs));
    return out;
  }

  /** AUTH PLAIN (or LOGIN if that is all the upstream offers); resolves with the final reply. */
  async auth(authzid: string, authcid: string, password: string): Promise<Reply> {
    const mechs = (this.extensions.get('AUTH') ?? '').toUpperCase().split(/\s+/);
    const t = this.cfg.connectTimeoutMs;
    const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
    if (!mechs.includes('PLAIN') && mechs.includes('LOGIN') && authzid === '') {
      let r = await this.command('AUTH LOGIN', t);
      if (r.code === 334) r = await this.command(b64(authcid), t);
      if (r.code === 334) r = await this.command(b64(password), t);
      return r;
    }
    const r = await this.command(`AUTH PLAIN ${b64(`${authzid}\u0000${authcid}\u0000${password}`)}`, t);
    return r.code === 334 ? this.command('*', t) : r; // a server that ignores the initial response: cancel
  }

  /**
   * Hands the logged-in connection over for splicing: mailgate stops reading, and whatever the
   * upstream sent beyond its last reply (nothing, normally) goes to the client.
   */
  detach(): { socket: Socket; rest: Buffer } {
    const s = this.socket;
    s.off('data', this.onData).off('error', this.onGone).off('close', this.onGone);
    s.on('error', ignoreError); // the splice handles errors from now on; this one must never crash
    this.closing = true;
    s.pause();
    return { socket: s, rest: this.reader.takeRest() };
  }

  /** Polite end: QUIT, then close. */
  quit(): void {
    if (!this.alive) return;
    const s = this.socket;
    this.closing = true;
    this.fail(new UpstreamError('closed by mailgate', 'closed'), false);
    s.end('QUIT\r\n');
    setTimeout(() => s.destroy(), 2_000).unref();
  }

  destroy(): void {
    this.closing = true;
    this.fail(new UpstreamError('closed by mailgate', 'closed'));
    this.socket.destroy();
  }
}
