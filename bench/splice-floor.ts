/**
 * `npm run bench:splice [-- --mb 512] [-- --rounds 7]`: what one direction of a Node splice costs
 * per GB on this machine, technique by technique, in the same rounds (issue: "find the floor").
 * A child process serves N MB per connection and sinks what it gets back; this process is the
 * proxy, so its CPU time (process.cpuUsage) is the splice's alone. Techniques:
 *  - pipe:       upstream.pipe(client) (what src/net/splice.ts does)
 *  - data:       on('data') → write, pause on back-pressure / resume on 'drain'
 *  - mailgate-stream: src/net/splice.ts over a plain socket (stream.pipe, a new 64 KB buffer per read)
 *  - mailgate-ring:   src/net/splice.ts over a socket opened with src/net/reads.ts (net.connect's
 *                     onread into a ring of reused 64 KB buffers, as connectUpstream opens plain ones)
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { RingReads } from '../src/net/reads.js';
import { splice } from '../src/net/splice.js';
import { median } from './stats.js';

const { values: args } = parseArgs({
  options: { mb: { type: 'string', default: '512' }, rounds: { type: 'string', default: '7' }, child: { type: 'boolean', default: false } },
});
const MB = Number(args.mb);
const CHUNK = 64 * 1024;

if (args.child) {
  // Source: writes MB megabytes to every connection then ends. Sink: connects through the proxy and
  // counts what arrives. Both here, so the proxy process measures only itself.
  const block = Buffer.alloc(CHUNK, 0x61);
  const src = net.createServer((s) => {
    s.setNoDelay(true);
    let left = MB * 16;
    const pump = () => {
      while (left > 0) {
        left--;
        if (!s.write(block)) return void s.once('drain', pump);
      }
      s.end();
    };
    pump();
    s.on('error', () => {});
    s.resume();
  });
  src.listen(0, '127.0.0.1', () => process.send?.({ port: (src.address() as net.AddressInfo).port }));
  process.on('message', (m: { proxyPort: number }) => {
    const t0 = process.hrtime.bigint();
    let n = 0;
    const c = net.connect({ host: '127.0.0.1', port: m.proxyPort });
    c.setNoDelay(true);
    c.on('data', (d: Buffer) => {
      n += d.length;
    });
    c.on('end', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      process.send?.({ bytes: n, ms });
      c.destroy();
    });
  });
} else {
  await main();
}

type Technique = 'pipe' | 'data' | 'mailgate-stream' | 'mailgate-ring';

function proxy(technique: Technique, upstreamPort: number): Promise<net.Server> {
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const opts = { host: '127.0.0.1', port: upstreamPort };
    if (technique === 'mailgate-ring') return void ringSplice(client, opts);
    const up = net.connect(opts);
    up.setNoDelay(true);
    const close = () => {
      client.destroy();
      up.destroy();
    };
    client.on('error', close);
    up.on('error', close);
    if (technique === 'pipe') {
      up.pipe(client);
      client.pipe(up);
    } else if (technique === 'data') {
      up.on('data', (d: Buffer) => {
        if (!client.write(d)) {
          up.pause();
          client.once('drain', () => up.resume());
        }
      });
      up.on('end', () => client.end());
      client.pipe(up);
    } else {
      up.once('connect', () => splice(client, up, { toUpstream: Buffer.alloc(0), toClient: Buffer.alloc(0) }));
    }
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

/** mailgate's splice over an upstream socket opened with the ring of reused read buffers (src/net/reads.ts). */
function ringSplice(client: net.Socket, opts: { host: string; port: number }): void {
  const ring = new RingReads();
  const up = net.connect({ ...opts, onread: ring.onread });
  ring.bind(up);
  up.setNoDelay(true);
  up.once('connect', () => splice(client, up, { toUpstream: Buffer.alloc(0), toClient: Buffer.alloc(0) }));
}

async function main(): Promise<void> {
  const child = fork(new URL(import.meta.url).pathname, ['--child', '--mb', String(MB)], { execArgv: ['--import', 'tsx'] });
  const next = () => new Promise<Record<string, number>>((r) => child.once('message', (m) => r(m as Record<string, number>)));
  const { port } = await next();
  const techniques: Technique[] = ['pipe', 'data', 'mailgate-stream', 'mailgate-ring'];
  const servers = Object.fromEntries(await Promise.all(techniques.map(async (t) => [t, await proxy(t, port!)] as const)));
  const res: Record<Technique, { cpu: number[]; mbs: number[] }> = {
    pipe: { cpu: [], mbs: [] },
    data: { cpu: [], mbs: [] },
    'mailgate-stream': { cpu: [], mbs: [] },
    'mailgate-ring': { cpu: [], mbs: [] },
  };
  const rounds = Number(args.rounds);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < techniques.length; i++) {
      const t = techniques[(i + r) % techniques.length]!;
      const before = process.cpuUsage();
      child.send({ proxyPort: (servers[t]!.address() as net.AddressInfo).port });
      const m = await next();
      const cpu = process.cpuUsage(before);
      const gb = m.bytes! / 1e9;
      res[t].cpu.push((cpu.user + cpu.system) / 1e6 / gb);
      res[t].mbs.push(m.bytes! / 1e6 / (m.ms! / 1000));
      process.stderr.write(`round ${r + 1}/${rounds} ${t}: ${(m.bytes! / 1e6).toFixed(0)} MB\n`);
    }
  }
  child.kill();
  for (const s of Object.values(servers)) s!.close();
  process.stdout.write(
    `one direction, ${MB} MB per round, ${rounds} rounds, medians (load ${(await import('node:os'))
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')})\n`,
  );
  process.stdout.write('| technique | proxy CPU-s/GB | MB/s | per round CPU-s/GB |\n|---|--:|--:|---|\n');
  for (const t of techniques)
    process.stdout.write(
      `| ${t} | ${median(res[t].cpu).toFixed(2)} | ${median(res[t].mbs).toFixed(0)} | ${res[t].cpu.map((x) => x.toFixed(2)).join(' ')} |\n`,
    );
  process.exit(0);
}
