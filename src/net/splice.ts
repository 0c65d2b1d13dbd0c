/**
 * After login mailgate gets out of the way: bytes flow both ways untouched, so every upstream
 * extension (IDLE, COMPRESS=DEFLATE, CONDSTORE, NOTIFY …) works. Back-pressure is handled once,
 * by stream.pipe; nothing here looks at, copies or logs the payload.
 */
import type { Socket } from 'node:net';

export interface SpliceStats { clientToUpstream: number; upstreamToClient: number }

export interface Splice {
  /** Ends both sides at once (revocation, shutdown). */
  destroy(): void;
  readonly done: Promise<SpliceStats>;
}

export function splice(client: Socket, upstream: Socket, pending: { toUpstream: Buffer; toClient: Buffer }): Splice {
  let finish!: (s: SpliceStats) => void;
  const done = new Promise<SpliceStats>((r) => { finish = r; });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    finish({ clientToUpstream: upstream.bytesWritten, upstreamToClient: client.bytesWritten });
  };
  // Both sockets already have TCP_NODELAY (set at accept and at connect): the bench shows the
  // splice writing whole 64 KB reads, so Nagle would gain nothing and cost latency on replies.
  // Keepalive finds peers that vanished without a FIN (laptops closed mid-IDLE).
  client.setKeepAlive(true, 60_000);
  upstream.setKeepAlive(true, 60_000);
  for (const s of [client, upstream]) {
    s.on('error', close);
    s.on('close', close);
  }
  if (pending.toUpstream.length) upstream.write(pending.toUpstream);
  if (pending.toClient.length) client.write(pending.toClient);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
  upstream.resume();
  return { destroy: close, done };
}
