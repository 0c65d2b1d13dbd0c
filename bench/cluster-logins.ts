/**
 * Warm logins per second with `serve --workers N` (node:cluster, runtime/cluster.ts) against the
 * one-process server: the built CLI (bin/mailgate.js) in front of the bench Dovecot, the same
 * passcode login repeated (verified-credential cache warm), plaintext on loopback so TLS does not
 * hide the login path. Reports logins/s, latency and the whole machine's CPU per login (the box's
 * 2 cores also run Dovecot and this load generator). Bounded: `--seconds` per run.
 *
 *   npx tsc -p tsconfig.build.json && node --import tsx bench/cluster-logins.ts [--seconds 10] [--concurrency 32] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loginStorm } from './imap-load.js';
import { machineBusySeconds, raiseFdLimit } from './proc.js';
import { cleanupAll, gateConfigDoc, onCleanup, prepareGate, startWorld, USER, workDir } from './testbed.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
  },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);

/** `mailgate serve` with `workers` and a scheduling policy; resolves to its plaintext IMAP port. */
async function serve(file: string, workers: number, sched: 'rr' | 'none') {
  const bin = new URL('../bin/mailgate.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, 'serve', '--config', file, '--workers', String(workers)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: sched },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  onCleanup(stop);
  const ready = workers > 1 ? /all workers serving/ : /"tls":"none","msg":"IMAP listening"/;
  const end = Date.now() + 30_000;
  while (!ready.test(out) || !/"tls":"none","msg":"IMAP listening"/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const port = Number(/"port":(\d+),"tls":"none","msg":"IMAP listening"/.exec(out)![1]);
  return { port, stop };
}

async function main(): Promise<void> {
  raiseFdLimit();
  const dovecot = await startWorld({ big: { name: 'Big', count: 0, size: 0 }, small: { name: 'Small', count: 0, size: 0 } });
  const dir = workDir();
  const file = join(dir, 'mailgate.yaml');
  const doc = gateConfigDoc(dovecot, null, dir, { cacheTtl: '5m', bcryptCost: 10, hashWorkers: 1, pool: 0 });
  delete doc.pop3;
  // Info: the listening lines give the port; a successful login writes no info line.
  doc.log = { level: 'info' };
  const secret = (await prepareGate(doc, dir, file, true))!;
  const runs: Array<[string, number, 'rr' | 'none']> = [
    ['workers 1', 1, 'rr'],
    ['workers 2 SCHED_RR', 2, 'rr'],
    ['workers 2 SCHED_NONE', 2, 'none'],
  ];
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const [label, workers, sched] of runs) {
      const g = await serve(file, workers, sched);
      const p = { label: 'mailgate' as const, ep: { port: g.port, tls: false }, user: USER, secret, gatePid: null };
      await loginStorm(p, 4, 200, 10_000); // warm: cache, pools, JIT
      const busy0 = machineBusySeconds();
      const r = await loginStorm(p, concurrency, 1_000_000, seconds * 1000);
      const busy = machineBusySeconds() - busy0;
      const cpuMs = (busy * 1000) / Math.max(1, r.ok);
      console.log(
        `${label.padEnd(22)} ${r.perS.toFixed(0).padStart(5)} logins/s  p50 ${r.lat.p50.toFixed(1)} ms  p99 ${r.lat.p99.toFixed(1)} ms  machine CPU ${cpuMs.toFixed(2)} ms/login (${(busy / seconds).toFixed(2)} cores busy)  errors ${r.errors}`,
      );
      await g.stop();
    }
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
