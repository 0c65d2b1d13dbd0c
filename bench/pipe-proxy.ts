/**
 * Reference path for the bulk phase: the naive Node TCP proxy (socket.pipe both ways,
 * TCP_NODELAY on), in its own process like the gate. It shows what Node itself costs per GB on
 * this machine, so mailgate's own overhead can be told apart from the runtime's.
 *
 *   node --import tsx bench/pipe-proxy.ts UPSTREAM_PORT   → prints { pid, port } once listening
 */
import net from 'node:net';

const upstreamPort = Number(process.argv[2]);
const server = net.createServer((client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: upstreamPort });
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.setNoDelay(true);
    s.on('error', close);
    s.on('close', close);
  }
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(`${JSON.stringify({ pid: process.pid, port: addr.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)); // the bench went away
process.stdin.resume();
