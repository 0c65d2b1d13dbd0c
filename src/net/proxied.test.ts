import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NetworkSet } from '../core/enforcement.js';
import { readProxyHeader, type Peer } from './proxied.js';

/** A loopback server whose connections go through readProxyHeader; reports each outcome and what followed the header. */
async function serve(from: string[], timeoutMs = 300) {
  const outcomes: Array<{ peer: Peer | null; rest: string; refused: string[] }> = [];
  const server = createServer(async (sock: Socket) => {
    const refused: string[] = [];
    const peer = await readProxyHeader(sock, { from: new NetworkSet(from), timeoutMs, refused: (ip, why) => refused.push(`${ip} ${why}`) });
    if (!peer) return void outcomes.push({ peer, rest: '', refused });
    let rest = '';
    sock.on('data', (d) => (rest += String(d)));
    sock.resume();
    await new Promise((r) => setTimeout(r, 50));
    outcomes.push({ peer, rest, refused });
    sock.end('greeting\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, outcomes };
}

/** Sends `parts` with a pause between them (separate TCP segments); resolves with what came back and when the server closed. */
function client(port: number, parts: Array<string | Buffer>, localAddress = '127.0.0.1'): Promise<{ got: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = '';
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 15));
      }
    });
    s.on('data', (d) => (got += String(d)));
    s.on('error', () => {});
    s.on('close', () => resolve({ got, ms: Date.now() - t0 }));
  });
}

describe('readProxyHeader on real sockets', () => {
  let server: Server | null = null;
  afterEach(() => server?.close());

  it('a header split over several segments, then the protocol bytes: the client address and the rest intact', async () => {
    const s = await serve(['127.0.0.1/32']);
    server = s.server;
    const r = await client(s.port, ['PROXY TC', 'P4 198.51.100.4 127.0.0.1 6', '1000 143\r', '\na1 NOOP\r\n']);
    expect(r.got).toBe('greeting\r\n');
    expect(s.outcomes).toEqual([{ peer: { ip: '198.51.100.4', port: 61000 }, rest: 'a1 NOOP\r\n', refused: [] }]);
  });

  it('LOCAL (v2): the connection keeps its own address', async () => {
    const s = await serve(['127.0.0.0/8']);
    server = s.server;
    const local = Buffer.from([...Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1'), 0x20, 0x00, 0x00, 0x00]);
    await client(s.port, [local], '127.0.0.3');
    expect(s.outcomes[0]?.peer?.ip).toBe('127.0.0.3');
  });

  it('closes without a byte: an unlisted source at once, a silent client after the timeout, garbage at once', async () => {
    const s = await serve(['127.0.0.1/32'], 300);
    server = s.server;
    const unlisted = await client(s.port, ['PROXY TCP4 1.2.3.4 127.0.0.1 1 2\r\n'], '127.0.0.2');
    const silent = await client(s.port, []);
    const garbage = await client(s.port, ['a1 LOGIN x y\r\n']);
    expect([unlisted.got, silent.got, garbage.got]).toEqual(['', '', '']);
    expect(unlisted.ms).toBeLessThan(200);
    expect(silent.ms).toBeGreaterThanOrEqual(290);
    expect(garbage.ms).toBeLessThan(200);
    expect(s.outcomes.map((o) => o.refused)).toEqual([
      ['127.0.0.2 PROXY header from an address not in proxy_from'],
      ['127.0.0.1 no PROXY header in time'],
      ['127.0.0.1 no PROXY protocol header'],
    ]);
  });
});
