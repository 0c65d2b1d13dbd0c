/**
 * The upstream read ring over real loopback sockets: a closed session's buffers serve the next
 * session, and what a session receives is exactly its own upstream's bytes.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { RingReads, spareReadBuffers } from './reads.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server on 127.0.0.1:0 whose first accepted socket `onSocket` gets. */
async function listen(onSocket: (s: Socket) => void): Promise<number> {
  const server = createServer(onSocket);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** One spliced session: the upstream sends `payload` and closes; resolves to what the client got. */
async function session(payload: Buffer): Promise<Buffer> {
  const upPort = await listen((s) => s.end(payload));
  let dest!: Socket;
  const gotDest = new Promise<void>((r) => {
    void listen((s) => {
      dest = s;
      r();
    }).then((port) => {
      const client = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      client.on('data', (c: Buffer) => chunks.push(c));
      received = new Promise((res) => client.on('close', () => res(Buffer.concat(chunks))));
    });
  });
  let received!: Promise<Buffer>;
  await gotDest;
  const ring = new RingReads();
  const up = connect({ host: '127.0.0.1', port: upPort, onread: ring.onread });
  ring.bind(up);
  ring.spliceTo(dest);
  up.on('end', () => dest.end());
  await once(up, 'close');
  return received;
}

const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

it("a closed session's buffers go to the next session, which receives exactly its own bytes", async () => {
  const first = pattern(1_000_000, 1);
  expect((await session(first)).equals(first)).toBe(true);
  const spare = spareReadBuffers();
  expect(spare).toBeGreaterThanOrEqual(1); // given back once the upstream closed and the writes completed
  const ring = new RingReads(); // takes one of them
  expect(spareReadBuffers()).toBe(spare - 1);
  ring.bind(connect(1, '127.0.0.1').on('error', () => {})); // refused: closes, gives it back
  await new Promise((r) => setTimeout(r, 100));
  expect(spareReadBuffers()).toBe(spare);
  const second = Buffer.from('a2 OK short answer\r\n');
  expect((await session(second)).toString()).toBe(second.toString()); // none of the first session's bytes
  const third = pattern(300_000, 7);
  expect((await session(third)).equals(third)).toBe(true);
});

it('holds one 1 KB buffer once the line is quiet again after a large transfer', async () => {
  const big = pattern(2_000_000, 3);
  let up!: Socket;
  const upPort = await listen((s) => {
    up = s;
    s.write(big);
  });
  const destPort = await listen(() => {});
  const client = connect(destPort, '127.0.0.1');
  let got = 0;
  const dest = await new Promise<Socket>((resolve) => {
    servers.at(-1)!.once('connection', resolve);
  });
  client.on('data', (c: Buffer) => (got += c.length));
  const ring = new RingReads();
  const sock = connect({ host: '127.0.0.1', port: upPort, onread: ring.onread });
  ring.bind(sock);
  ring.spliceTo(dest);
  while (got < big.length) await new Promise((r) => setTimeout(r, 10));
  expect(ring.heldBytes).toBeGreaterThan(64 * 1024); // in flow: big buffers
  up.write('* 3 EXISTS\r\n'); // an IDLE update: the session is quiet now
  while (got < big.length + 12) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50)); // the last writes' callbacks
  expect(ring.heldBytes).toBe(1024);
  sock.destroy();
  client.destroy();
  up.destroy();
});
