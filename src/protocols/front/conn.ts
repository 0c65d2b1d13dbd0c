/**
 * A line-oriented connection for the pre-login dialogue of every protocol (client side and
 * upstream side alike): wraps a socket, feeds the protocol's reader (IMAP's with literals,
 * lines.ts for SMTP/POP3), and lets protocol code `await read()` one item at a time.
 * It can be upgraded to TLS in place (STARTTLS) and detached for splicing, handing over
 * whatever bytes were received but not consumed.
 */
import type { Socket } from 'node:net';
import { TLSSocket, connect as tlsConnect, type ConnectionOptions, type SecureContext } from 'node:tls';
import { ignoreError } from '../../net/upstream.js';

/** A complete input item, or a framing error (too long …) with what the protocol needs to answer it. */
export type ReadItem<E = unknown> = { type: 'line'; data: Buffer } | { type: 'error'; error: E };

/** What LineConn needs of a protocol's reader: bytes in, complete items out, the rest handed over. */
export interface LineSource<E = unknown> {
  push(data: Buffer): void;
  shift(): ReadItem<E> | undefined;
  readonly bufferedBytes: number;
  /** Everything received but not returned by shift() (handed to the upstream at splice time). */
  takeRemaining(): Buffer;
  /** Drops everything received so far (STARTTLS: bytes pipelined in clear must not survive). */
  discard(): void;
}

export type ConnItem<E = unknown> = ReadItem<E> | { type: 'closed' } | { type: 'timeout' };

export class LineConn<E, R extends LineSource<E> = LineSource<E>> {
  private waiter: ((item: ConnItem<E>) => void) | null = null;
  private ended = false;
  private timer: NodeJS.Timeout | null = null;
  private onData = (d: Buffer) => {
    this.reader.push(d);
    // Parsing is lazy; a peer that floods us while we wait (e.g. for bcrypt) is paused, not buffered.
    if (this.reader.bufferedBytes > this.maxBuffered) this.socket.pause();
    this.wake();
  };
  private readonly maxBuffered = 256 * 1024;
  private onEnd = () => {
    this.ended = true;
    this.wake();
  };

  constructor(
    public socket: Socket,
    readonly reader: R,
    private timeoutMs = 0,
  ) {
    this.attach();
  }

  get secure(): boolean {
    return this.socket instanceof TLSSocket && this.socket.encrypted === true;
  }
  get closed(): boolean {
    return this.ended || this.socket.destroyed;
  }

  private attach(): void {
    this.socket.on('data', this.onData);
    this.socket.on('end', this.onEnd);
    this.socket.on('close', this.onEnd);
    this.socket.on('error', this.onEnd);
  }

  private detachListeners(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    // Keep a no-op error handler: an error after detaching must never crash the process. A shared
    // one, added once: a spliced socket keeps its listeners for as long as the session idles.
    this.socket.off('error', this.onEnd);
    if (!this.socket.listeners('error').includes(ignoreError)) this.socket.on('error', ignoreError);
  }

  private wake(): void {
    if (!this.waiter) return;
    const item = this.reader.shift() ?? (this.ended ? { type: 'closed' as const } : null);
    if (!item) return;
    const w = this.waiter;
    this.waiter = null;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    w(item);
  }

  /** Next complete item, 'closed' when the peer is gone, 'timeout' after timeoutMs of silence. */
  read(timeoutMs = this.timeoutMs): Promise<ConnItem<E>> {
    if (this.socket.isPaused() && this.reader.bufferedBytes <= this.maxBuffered) this.socket.resume();
    const item = this.reader.shift();
    if (item) return Promise.resolve(item);
    if (this.closed) return Promise.resolve({ type: 'closed' });
    return new Promise((resolve) => {
      this.waiter = resolve;
      if (timeoutMs > 0)
        this.timer = setTimeout(() => {
          this.waiter = null;
          this.timer = null;
          resolve({ type: 'timeout' });
        }, timeoutMs);
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(data);
  }

  /** Writes and resolves once the data is handed to the kernel (before closing or upgrading). */
  flush(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(data, () => resolve());
    });
  }

  /** Server side STARTTLS: everything pipelined in clear after the command is discarded. */
  async upgradeServer(secureContext: SecureContext, handshakeTimeoutMs = 30_000): Promise<boolean> {
    this.detachListeners();
    this.reader.discard();
    const plain = this.socket;
    const tls = new TLSSocket(plain, { isServer: true, secureContext });
    const ok = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), handshakeTimeoutMs);
      tls.once('secure', () => {
        clearTimeout(t);
        resolve(true);
      });
      tls.once('error', () => {
        clearTimeout(t);
        resolve(false);
      });
      tls.once('close', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    this.socket = tls;
    this.ended = false;
    this.attach();
    if (!ok) {
      tls.destroy();
      plain.destroy();
    }
    return ok;
  }

  /** Client side STARTTLS towards an upstream. Throws on handshake/verification failure. */
  async upgradeClient(options: ConnectionOptions, timeoutMs: number): Promise<void> {
    this.detachListeners();
    this.reader.discard();
    const tls = tlsConnect({ ...options, socket: this.socket });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        tls.destroy();
        reject(new Error('TLS handshake timed out'));
      }, timeoutMs);
      tls.once('secureConnect', () => {
        clearTimeout(t);
        resolve();
      });
      tls.once('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    this.socket = tls;
    this.attach();
  }

  /** Stops reading through this wrapper; returns the socket and unconsumed bytes. */
  detach(): { socket: Socket; rest: Buffer } {
    this.detachListeners();
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const rest = this.reader.takeRemaining();
    this.socket.pause();
    return { socket: this.socket, rest };
  }

  /**
   * Closes after everything written so far reached the peer: a TLS socket destroyed right after a
   * write drops it (a LOGOUT's tagged OK never arrived over TLS). Destroys after `graceMs` if the
   * peer does not close its side.
   */
  close(graceMs = 2_000): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.socket.destroyed) return;
    const socket = this.socket;
    const t = setTimeout(() => socket.destroy(), graceMs);
    t.unref();
    socket.once('close', () => clearTimeout(t));
    socket.end();
  }

  destroy(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.socket.destroy();
  }
}
