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
 * in memory (4 × 64 KB) whatever the client's speed. While data flows the buffers are 64 KB; once
 * the line is quiet the next read waits in a 1 KB one, and the big ones go back (see nextBuffer).
 *
 * The buffers come from a process-wide spare list and go back to it when the upstream socket has
 * closed (a buffer in flight: when its write has completed), and a ring takes a second one only
 * when the splice needs it. Allocating the 4 × 64 KB afresh for every login made V8 run a full
 * garbage collection every ~40 logins for the external memory alone (bench/RESULTS.md, issue 13).
 * A buffer goes back only when nothing can still read from or write into it: sessions never see
 * each other's bytes.
 */
import type { Socket } from 'node:net';

/** Buffer sizes: big while data flows, small once the line is quiet (an idle session holds one small one). */
const BIG = 64 * 1024;
// 1 KB, not 4: an idle session holds it for hours (an IDLE update is a few dozen bytes), and 10,000
// sessions × 3 KB was a fifth of the idle budget; a read that fills it switches to BIG at once.
const SMALL = 1024;
/** A read this short (a few protocol lines: an IDLE update, a tagged OK) means the flow has stopped. */
const QUIET = 512;
const RING = 4;

const rings = new WeakMap<Socket, RingReads>();

/** Buffers of closed sessions, for the next ones, per size; at most SPARE_MAX of each kept (8 MB big). */
const spare = new Map<number, Buffer[]>([
  [BIG, []],
  [SMALL, []],
]);
const SPARE_MAX = 128;
const takeBuffer = (size: number): Buffer => spare.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
const giveBuffer = (b: Buffer): void => {
  const list = spare.get(b.length);
  if (list && list.length < SPARE_MAX) list.push(b);
};

/** How many buffers wait in the spare lists (tests). */
export function spareReadBuffers(): number {
  return (spare.get(BIG)?.length ?? 0) + (spare.get(SMALL)?.length ?? 0);
}

type OnRead = { buffer: () => Buffer; callback: (n: number, buf: Uint8Array) => boolean };
const noBuffer = (): Buffer => Buffer.alloc(0);
const noCallback = (): boolean => true;

/** The onread options for net.connect; call `bind(socket)` on the socket it returned. */
export class RingReads {
  private readonly free: Buffer[] = [];
  // Small first: the login dialogue reads a few hundred bytes at a time.
  private current: Buffer = takeBuffer(SMALL);
  /** Buffers this ring holds: current, free and in flight (at most RING). */
  private owned = 1;
  private closed = false;
  private waiting = false;
  private socket: Socket | null = null;
  private dest: Socket | null = null;
  private onChunk: ((chunk: Buffer) => void) | null = null;

  /** Bytes of buffer this ring holds outside writes in flight (tests: an idle session holds little). */
  get heldBytes(): number {
    return this.current.length + this.free.reduce((n, b) => n + b.length, 0);
  }

  /** net.connect({ onread }) */
  get onread(): OnRead {
    // Node keeps both functions for the socket's life. Assigned, not written as `{ buffer: () => … }`:
    // under esbuild's keepNames (tsx, vitest; the shipped dist/ is tsc output) each named arrow gets a property
    // dictionary of its own, ~250 bytes per idle session.
    const o: OnRead = { buffer: noBuffer, callback: noCallback };
    o.buffer = () => this.current;
    o.callback = (n, buf) => this.read(n, buf as Buffer);
    return o;
  }

  bind(socket: Socket): void {
    this.socket = socket;
    rings.set(socket, this);
    // Closed: libuv reads no more into `current`, and the free ones are in no write. (`on`, not
    // `once`: 'close' comes once anyway, and a once-wrapper costs two more objects per session.)
    socket.on('close', () => {
      this.closed = true;
      giveBuffer(this.current);
      for (const b of this.free.splice(0)) giveBuffer(b);
    });
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

  /**
   * The buffer for the next read. Node keeps it until data arrives, however long the session
   * idles, so its size follows the flow: big after a read that filled its buffer, small after a
   * read of a few lines — and then the ring's free big buffers go back to the spare list, so a
   * mail app idling for hours after a large FETCH holds one 1 KB buffer, not up to 4 × 64 KB.
   */
  private nextBuffer(n: number, filled: Buffer): Buffer {
    const size = n === filled.length ? BIG : n < QUIET ? SMALL : filled.length;
    if (size === SMALL) {
      for (let i = this.free.length - 1; i >= 0; i--) {
        if (this.free[i]!.length !== BIG) continue;
        giveBuffer(this.free.splice(i, 1)[0]!);
        this.owned--;
      }
    }
    const i = this.free.findIndex((b) => b.length === size);
    if (i >= 0) return this.free.splice(i, 1)[0]!;
    if (this.free.length > 0 && this.owned >= RING) {
      giveBuffer(this.free.pop()!); // the ring is full with buffers of the other size: swap one
      this.owned--;
    }
    this.owned++;
    return takeBuffer(size);
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
      if (this.closed) return giveBuffer(buf); // written: no one holds it any more
      if (this.current.length === SMALL) {
        this.owned--; // the line went quiet meanwhile: an idle session keeps only the buffer Node reads into
        giveBuffer(buf);
      } else this.free.push(buf);
      if (this.waiting && !socket.destroyed) {
        this.waiting = false;
        socket.resume();
      }
    });
    // Node asks buffer() for the next read right after this callback and keeps what it got, even
    // across a pause: `current` must never be a buffer in flight. So the next one is taken now, and
    // reading stops while it is the last one the ring may have (resumed when a write hands one back).
    this.current = this.nextBuffer(n, buf);
    if (this.free.length > 0 || this.owned < RING) return true;
    this.waiting = true;
    return false; // pauses the socket until a buffer is free again
  }
}

/** The ring a socket was opened with, if any (plain TCP upstreams). */
export function ringOf(socket: Socket): RingReads | undefined {
  return rings.get(socket);
}
