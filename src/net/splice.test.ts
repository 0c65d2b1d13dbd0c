/**
 * The splice's goodbye decision over real loopback sockets: when the upstream goes away first,
 * `farewell` gets the tail of the upstream's last chunk (copied into the session's own buffer,
 * since a ring buffer is reused), and what it returns is the client's last line.
 */
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { RingReads } from './reads.js';
import { splice } from './splice.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A listening server; resolves to its port and its first accepted socket. */
async function listen(): Promise<{ port: number; accepted: Promise<Socket> }> {
  const server = createServer();
  servers.push(server);
  const accepted = once(server, 'connection').then(([s]) => s as Socket);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, accepted };
}

/** Splices a client to an upstream that writes `chunks` and closes; resolves to the client's bytes and farewell's argument. */
async function upstreamLeaves(chunks: string[], ring: boolean): Promise<{ client: string; last: string | null }> {
  const up = await listen();
  const front = await listen();
  const client = connect(front.port, '127.0.0.1');
  let got = '';
  client.on('data', (d: Buffer) => (got += d.toString()));
  const clientClosed = once(client, 'close');
  const clientSide = await front.accepted;
  const reads = ring ? new RingReads() : null;
  const upstream = connect({ host: '127.0.0.1', port: up.port, ...(reads ? { onread: reads.onread } : {}) });
  reads?.bind(upstream);
  const server = await up.accepted;
  let last: string | null = null;
  splice(
    clientSide,
    upstream,
    { toUpstream: Buffer.alloc(0), toClient: Buffer.alloc(0) },
    {
      farewell: (tail) => {
        last = tail ? tail.toString() : null;
        return last?.includes('* BYE') ? null : '* BYE upstream lost\r\n';
      },
    },
  );
  for (const c of chunks) {
    server.write(c);
    await new Promise((r) => setTimeout(r, 30)); // one read each
  }
  server.end();
  await clientClosed;
  return { client: got, last };
}

for (const ring of [true, false]) {
  const via = ring ? 'ring reads' : 'stream pipe';
  it(`${via}: an upstream that vanishes after an update gets the client a goodbye; farewell saw the last chunk`, async () => {
    const r = await upstreamLeaves(['* 1 EXISTS\r\n', '* 2 EXISTS\r\n'], ring);
    expect(r.last).toBe('* 2 EXISTS\r\n');
    expect(r.client).toBe('* 1 EXISTS\r\n* 2 EXISTS\r\n* BYE upstream lost\r\n');
  });

  it(`${via}: an upstream that said BYE itself is not followed by a second one; a long chunk's last 1 KB is kept`, async () => {
    const long = `* 3 FETCH (BODY[] {3000}\r\n${'x'.repeat(3000)})\r\n* BYE shutting down\r\n`;
    const r = await upstreamLeaves(['* 1 EXISTS\r\n', long], ring);
    expect(r.last).toBe(long.slice(-1024));
    expect(r.client).toBe(`* 1 EXISTS\r\n${long}`);
  });
}
