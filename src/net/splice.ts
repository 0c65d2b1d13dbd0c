/**
 * After login mailgate gets out of the way: bytes flow both ways untouched, so every upstream
 * extension (IDLE, COMPRESS=DEFLATE, CONDSTORE, BDAT/CHUNKING, PIPELINING …) works. Back-pressure
 * is handled by stream.pipe, or, for a plain TCP upstream, by the ring of reused read buffers
 * (reads.ts); nothing here looks at or logs the payload (`farewell` sees only the tail of the
 * upstream's last chunk, to decide whether a goodbye line is owed).
 */
import type { Socket } from 'node:net';
import { ringOf } from './reads.js';

export interface SpliceStats {
  clientToUpstream: number;
  upstreamToClient: number;
}

export interface Splice {
  /** Ends both sides at once (revocation, shutdown). */
  destroy(): void;
  /** Ends the session with a last line to the client (a protocol's goodbye), dropping the upstream. */
  end(toClient: Buffer | string): void;
  readonly done: Promise<SpliceStats>;
}

export interface SpliceOptions {
  /**
   * When the upstream goes away first: the line the client gets before its side is closed, given
   * the upstream's last chunk (null: nothing). Without it the client's side just ends.
   */
  farewell?: (lastFromUpstream: Buffer | null) => Buffer | string | null;
}

/** After one side closed, the other gets this long to flush what it was still sending. */
const CLOSE_GRACE_MS = 2_000;
/** How much of the upstream's last chunk `farewell` gets. */
const TAIL = 1024;

export function splice(
  client: Socket,
  upstream: Socket,
  pending: { toUpstream: Buffer; toClient: Buffer },
  opts: SpliceOptions = {},
): Splice {
  let finish!: (s: SpliceStats) => void;
  const done = new Promise<SpliceStats>((r) => {
    finish = r;
  });
  let finished = false;
  let open = 2;
  const closed = () => {
    if (--open > 0 || finished) return;
    finished = true;
    finish({ clientToUpstream: upstream.bytesWritten, upstreamToClient: client.bytesWritten });
  };
  const destroy = () => {
    client.destroy();
    upstream.destroy();
  };
  // One side is gone: the other gets what was already written to it, then its end (a TLS socket
  // destroyed right after a write drops that write), and is destroyed if it does not close.
  const endGently = (s: Socket, last?: Buffer | string | null) => {
    if (s.destroyed) return;
    if (last) s.write(last);
    s.end();
    setTimeout(() => s.destroy(), CLOSE_GRACE_MS).unref();
  };
  // Both sockets already have TCP_NODELAY (set at accept and at connect): the bench shows the
  // splice writing whole 64 KB reads, so Nagle would gain nothing and cost latency on replies.
  // Keepalive finds peers that vanished without a FIN (laptops closed mid-IDLE).
  client.setKeepAlive?.(true, 60_000);
  upstream.setKeepAlive?.(true, 60_000);
  client.on('error', destroy);
  client.on('close', () => {
    endGently(upstream);
    closed();
  });
  // The upstream's last bytes, copied into one buffer of this session's own: a Buffer.from() copy
  // per chunk would be a slice of Node's shared 8 KB pool and pin a whole slab per idle session.
  let tail: Buffer | null = null;
  let tailLength = 0;
  let upstreamGone = false;
  const ring = ringOf(upstream);
  const stopToClient = () => (ring ? ring.stop() : upstream.unpipe(client));
  const upstreamEnded = () => {
    if (upstreamGone) return;
    upstreamGone = true;
    stopToClient();
    endGently(client, opts.farewell?.(tail ? tail.subarray(0, tailLength) : null));
  };
  upstream.on('error', () => {
    upstreamEnded();
    upstream.destroy();
  });
  upstream.on('end', upstreamEnded);
  upstream.on('close', () => {
    upstreamEnded();
    closed();
  });
  // A goodbye is decided on the last line(s) the upstream sent: its chunk's tail is enough, and a
  // ring buffer is reused once written, so the tail is copied.
  const keepTail = (c: Buffer) => {
    tail ??= Buffer.allocUnsafeSlow(TAIL);
    tailLength = c.copy(tail, 0, Math.max(0, c.length - TAIL));
  };
  if (pending.toUpstream.length) upstream.write(pending.toUpstream);
  if (pending.toClient.length) client.write(pending.toClient);
  client.pipe(upstream);
  if (ring) ring.spliceTo(client, opts.farewell ? keepTail : undefined);
  else {
    if (opts.farewell) upstream.on('data', keepTail);
    upstream.pipe(client, { end: false });
  }
  client.resume();
  upstream.resume();
  return {
    destroy,
    end(toClient) {
      upstreamGone = true;
      stopToClient();
      upstream.destroy();
      endGently(client, toClient);
    },
    done,
  };
}
