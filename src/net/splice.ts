/**
 * After login mailgate gets out of the way: bytes flow both ways untouched, so every upstream
 * extension (IDLE, COMPRESS=DEFLATE, CONDSTORE, BDAT/CHUNKING, PIPELINING …) works. Back-pressure
 * is handled by pause/drain towards the upstream, and towards the client by stream.pipe, or, for a
 * plain TCP upstream, by the ring of reused read buffers (reads.ts); nothing here looks at or logs
 * the payload (`farewell` sees only the tail of the upstream's last chunk, to decide whether a
 * goodbye line is owed).
 *
 * A spliced session may idle for hours, so what it keeps is counted: one object with a few fields
 * and one listener per socket event, not stream.pipe's eleven closures and three once-wrappers nor
 * a promise (issue 12: 20,000 idle TLS sessions within 40 KB each). The listeners are inline
 * arrows on purpose: a named function costs a property dictionary per session under esbuild's
 * keepNames (tsx, vitest; not the tsc-built dist/), and they all share one context (`this`).
 */
import type { Socket } from 'node:net';
import { ringOf, type RingReads } from './reads.js';

export interface SpliceStats {
  clientToUpstream: number;
  upstreamToClient: number;
}

export interface Splice {
  /** Ends both sides at once (revocation, shutdown). */
  destroy(): void;
  /** Ends the session with a last line to the client (a protocol's goodbye), dropping the upstream. */
  end(toClient: Buffer | string): void;
}

export interface SpliceOptions {
  /**
   * When the upstream goes away first: the line the client gets before its side is closed, given
   * the upstream's last chunk (null: nothing). Without it the client's side just ends, and no tail
   * of the upstream's stream is kept.
   */
  farewell?: (lastFromUpstream: Buffer | null) => Buffer | string | null;
  /** Once both sides have closed: the bytes written each way. */
  closed?: (stats: SpliceStats) => void;
}

/** After one side closed, the other gets this long to flush what it was still sending. */
const CLOSE_GRACE_MS = 2_000;
/** How much of the upstream's last chunk `farewell` gets. */
const TAIL = 1024;

/** Splices `client` and `upstream`, first writing what each side sent beyond the login (`pending`). */
export function splice(
  client: Socket,
  upstream: Socket,
  pending: { toUpstream: Buffer; toClient: Buffer },
  opts: SpliceOptions = {},
): Splice {
  return new Spliced(client, upstream, pending, opts);
}

class Spliced implements Splice {
  private open = 2;
  private upstreamGone = false;
  /**
   * The upstream's last bytes, copied into one buffer of this session's own: a Buffer.from() copy
   * per chunk would be a slice of Node's shared 8 KB pool and pin a whole slab per idle session.
   */
  private tail: Buffer | null = null;
  private tailLength = 0;
  private readonly ring: RingReads | undefined;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    pending: { toUpstream: Buffer; toClient: Buffer },
    private readonly opts: SpliceOptions,
  ) {
    this.ring = ringOf(upstream);
    // Both sockets already have TCP_NODELAY (set at accept and at connect): the bench shows the
    // splice writing whole 64 KB reads, so Nagle would gain nothing and cost latency on replies.
    // Keepalive finds peers that vanished without a FIN (laptops closed mid-IDLE).
    client.setKeepAlive?.(true, 60_000);
    upstream.setKeepAlive?.(true, 60_000);
    client.on('error', () => this.destroy());
    client.on('close', () => {
      this.endGently(upstream);
      this.closed();
    });
    upstream.on('error', () => {
      this.upstreamEnded();
      upstream.destroy();
    });
    upstream.on('end', () => this.upstreamEnded());
    upstream.on('close', () => {
      this.upstreamEnded();
      this.closed();
    });
    if (pending.toUpstream.length) upstream.write(pending.toUpstream);
    if (pending.toClient.length) client.write(pending.toClient);
    // Client to upstream as `client.pipe(upstream)` would: pause on a full write buffer, resume
    // on drain, end on end.
    client.on('data', (chunk: Buffer) => {
      // Not once the upstream has gone (stream.pipe unpiped then): a write after its end builds an
      // error with its stack and leaves the client paused until the grace timer.
      if (this.upstreamGone) return;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    // Not when the upstream has ended or gone already (it closed first, e.g. after LOGOUT): end() on
    // such a stream builds an ERR_STREAM_ALREADY_FINISHED (or _DESTROYED) with its stack, ~2 % of a
    // login's CPU.
    client.on('end', () => {
      if (!upstream.writableEnded && !upstream.destroyed) upstream.end();
    });
    // A goodbye is decided on the last line(s) the upstream sent: its chunk's tail is enough, and a
    // ring buffer is reused once written, so the tail is copied.
    const ring = this.ring;
    if (ring) ring.spliceTo(client, opts.farewell ? (c) => this.keepTail(c) : undefined);
    else {
      if (opts.farewell) upstream.on('data', (c: Buffer) => this.keepTail(c));
      upstream.pipe(client, { end: false });
    }
    client.resume();
    upstream.resume();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  end(toClient: Buffer | string): void {
    this.upstreamGone = true;
    this.stopToClient();
    this.upstream.destroy();
    this.endGently(this.client, toClient);
  }

  private keepTail(c: Buffer): void {
    this.tail ??= Buffer.allocUnsafeSlow(TAIL);
    this.tailLength = c.copy(this.tail, 0, Math.max(0, c.length - TAIL));
  }

  private stopToClient(): void {
    if (this.ring) this.ring.stop();
    else this.upstream.unpipe(this.client);
  }

  private upstreamEnded(): void {
    if (this.upstreamGone) return;
    this.upstreamGone = true;
    this.stopToClient();
    const tail = this.tail ? this.tail.subarray(0, this.tailLength) : null;
    this.endGently(this.client, this.opts.farewell?.(tail));
  }

  /**
   * One side is gone: the other gets what was already written to it, then its end (a TLS socket
   * destroyed right after a write drops that write), and is destroyed if it does not close.
   */
  private endGently(s: Socket, last?: Buffer | string | null): void {
    if (s.destroyed) return;
    if (!s.writableEnded) {
      if (last) s.write(last);
      s.end();
    }
    setTimeout(() => s.destroy(), CLOSE_GRACE_MS).unref();
  }

  private closed(): void {
    if (--this.open !== 0) return;
    this.opts.closed?.({ clientToUpstream: this.upstream.bytesWritten, upstreamToClient: this.client.bytesWritten });
  }
}
