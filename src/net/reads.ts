/**
 * Upstream reads into reused buffers. A plain TCP upstream socket is opened with net.connect's
 * `onread`, so libuv reads into a small ring of 64 KB buffers that live as long as the session
 * instead of a fresh 64 KB allocation per read (the GC work the profile showed in the splice).
 * bench/splice-floor.ts measured one direction on the 2-core box: 0.44 CPU-s/GB this way against
 * 0.54 for stream.pipe and 0.58 for the splice before (medians of 7 × 512 MB).
 *
 * Before the splice (the login dialogue) every read is copied and emitted as a normal 'data'
 * event, so LineConn and every other reader work unchanged. Once spliced, a read goes straight to
 * the client's write; its buffer returns to the ring when that write has completed, and the
 * socket pauses while all other buffers are in flight, which also bounds what one session holds
 * in memory (4 × 64 KB) whatever the client's speed.
 */
import type { Socket } from 'node:net';

const CHUNK = 64 * 1024;
const RING = 4;

const rings = new WeakMap<Socket, RingReads>();

/** The onread options for net.connect; call `bind(socket)` on the socket it returned. */
export class RingReads {
  private readonly free: Buffer[] = [];
  private current: Buffer;
  private waiting = false;
  private socket: Socket | null = null;
  private dest: Socket | null = null;
  private onChunk: ((chunk: Buffer) => void) | null = null;

  constructor() {
    for (let i = 0; i < RING; i++) this.free.push(Buffer.allocUnsafe(CHUNK));
    this.current = this.free.pop() as Buffer;
  }

  /** net.connect({ onread }) */
  get onread(): { buffer: () => Buffer; callback: (n: number, buf: Uint8Array) => boolean } {
    return { buffer: () => this.current, callback: (n, buf) => this.read(n, buf as Buffer) };
  }

  bind(socket: Socket): void {
    this.socket = socket;
    rings.set(socket, this);
  }

  /** From now on, reads go to `dest` without a copy; `onChunk` sees each chunk before it is reused. */
  spliceTo(dest: Socket, onChunk?: (chunk: Buffer) => void): void {
    this.dest = dest;
    this.onChunk = onChunk ?? null;
  }

  /** Reads after this are dropped (the client side is gone or being closed). */
  stop(): void {
    this.dest = null;
    this.onChunk = null;
    this.socket?.pause();
  }

  private read(n: number, buf: Buffer): boolean {
    const socket = this.socket;
    if (!socket) return true;
    if (!this.dest) {
      const copy = Buffer.allocUnsafe(n);
      buf.copy(copy, 0, 0, n);
      socket.emit('data', copy);
      return true;
    }
    const chunk = buf.subarray(0, n);
    this.onChunk?.(chunk);
    this.dest.write(chunk, () => {
      this.free.push(buf);
      if (this.waiting && !socket.destroyed) {
        this.waiting = false;
        socket.resume();
      }
    });
    // Node asks buffer() for the next read right after this callback and keeps what it got, even
    // across a pause: `current` must never be a buffer in flight. So the next one is taken now, and
    // reading stops while it is the last free one (resumed when a write hands one back).
    this.current = this.free.pop() as Buffer;
    if (this.free.length > 0) return true;
    this.waiting = true;
    return false; // pauses the socket until a buffer is free again
  }
}

/** The ring a socket was opened with, if any (plain TCP upstreams). */
export function ringOf(socket: Socket): RingReads | undefined {
  return rings.get(socket);
}
