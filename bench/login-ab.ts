/**
 * A/B of mailgate's warm login path between two builds, in alternating rounds on one private
 * Dovecot: what a change to the login path saves, measured as the gate process's CPU per login
 * (steadier than logins/s on a shared box, where the direct path itself moves by ±20 % between
 * runs). Each build runs in its own gate process with its own SQLite store and passcode, both
 * warmed alike before the rounds.
 *
 *   npx tsc -p tsconfig.build.json --outDir build-a   # (a checkout of the old code, or git stash)
 *   npx tsc -p tsconfig.build.json --outDir build-b
 *   node --import tsx bench/login-ab.ts $PWD/build-a $PWD/build-b [--rounds 8] [--seconds 3] [--clients 8] [--tls]
 *
 * `--profile PREFIX` adds one round per build under the V8 profiler: PREFIX-a.cpuprofile, PREFIX-b.cpuprofile.
 * `--vs-floor` takes one build and puts the bare Node login proxy (login-floor.ts) in B's place:
 * what mailgate costs per login above a proxy with no policy, store or logging.
 * Each round also reports Dovecot's CPU per login (its whole process tree).
 * Build directories must be inside the checkout (node_modules resolves from there). `dist` is
 * accepted as a name for ./dist. Prints per round and the medians; exits 0.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loginStorm, type Path } from './imap-load.js';
import { cpuDetail, raiseFdLimit, treeCpuSeconds } from './proc.js';
import { median } from './stats.js';
import {
  cleanupAll,
  dovecotMasterPid,
  gateConfigDoc,
  prepareGate,
  spawnGate,
  spawnLoginFloor,
  startWorld,
  USER,
  workDir,
} from './testbed.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '8' },
    tls: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'vs-floor': { type: 'boolean', default: false },
  },
});
if (positionals.length !== (args['vs-floor'] ? 1 : 2)) {
  process.stderr.write(
    'usage: login-ab.ts BUILD_A BUILD_B | BUILD --vs-floor [--rounds N] [--seconds S] [--clients C] [--tls] [--profile PREFIX]\n',
  );
  process.exit(2);
}
const builds = positionals.map((p) => (p === 'dist' ? resolve('dist') : resolve(p)));
const rounds = Number(args.rounds);
const budgetMs = Number(args.seconds) * 1000;
const clients = Number(args.clients);
const log = (m: string) => process.stderr.write(`[ab ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

async function main(): Promise<void> {
  raiseFdLimit();
  const dovecot = await startWorld({ big: { name: 'Big', count: 1, size: 1024 }, small: { name: 'Small', count: 1, size: 1024 } });
  const ca = readFileSync(dovecot.certs.caCert);
  const dovecotPid = dovecotMasterPid(dovecot);
  const paths: Path[] = [];
  const gates: Array<Awaited<ReturnType<typeof spawnGate>>> = [];
  for (const [i, build] of builds.entries()) {
    const dir = workDir();
    const file = join(dir, 'gate.yaml');
    const passcode = await prepareGate(
      gateConfigDoc(dovecot, null, dir, { cacheTtl: '5m', bcryptCost: 10, hashWorkers: 1 }),
      dir,
      file,
      true,
    );
    const g = await spawnGate(file, { MAILGATE_BENCH_FROM: build }); // read by gate-process.ts at its start
    gates.push(g);
    const ep = g.imap.find((a) => a.tls === (args.tls ? 'implicit' : 'none'))!;
    paths.push({ label: 'mailgate', ep: { port: ep.port, tls: !!args.tls, ca }, user: USER, secret: passcode!, gatePid: g.pid });
    log(`${'AB'[i]}: ${build} (pid ${g.pid})`);
  }
  if (args['vs-floor']) {
    const f = await spawnLoginFloor(dovecot.imapPort, dovecot.master, dovecot.certs);
    const alice = dovecot.users.find((u) => u.user === USER)!;
    const port = args.tls ? f.tlsPort! : f.port;
    paths.push({ label: 'floor', ep: { port, tls: !!args.tls, ca }, user: USER, secret: alice.password, gatePid: f.pid });
    builds.push('the bare Node login proxy (bench/login-floor.ts)');
    log(`B: login floor (pid ${f.pid})`);
  }
  for (const p of paths) await loginStorm(p, clients, 1_000_000, 5000); // V8 compiles the login path
  const cpu: number[][] = [[], []];

  const rate: number[][] = [[], []];
  const dov: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 ? [1, 0] : [0, 1]) {
      const p = paths[i]!;
      const d0 = cpuDetail(p.gatePid!);
      const v0 = treeCpuSeconds(dovecotPid);
      const res = await loginStorm(p, clients, 1_000_000, budgetMs);
      const d1 = cpuDetail(p.gatePid!);
      const perLogin = ((d1.user + d1.sys - d0.user - d0.sys) / res.ok) * 1000;
      const dovecotPerLogin = ((treeCpuSeconds(dovecotPid) - v0) / res.ok) * 1000;
      dov[i]!.push(dovecotPerLogin);
      cpu[i]!.push(perLogin);
      rate[i]!.push(res.perS);
      log(
        `round ${r + 1} ${'AB'[i]}: ${res.perS.toFixed(0)}/s, gate ${perLogin.toFixed(3)} ms/login ` +
          `(user ${(((d1.user - d0.user) / res.ok) * 1000).toFixed(3)}, sys ${(((d1.sys - d0.sys) / res.ok) * 1000).toFixed(3)}), Dovecot ${dovecotPerLogin.toFixed(3)} ms/login, errors ${res.errors}`,
      );
    }
  }
  if (args.profile) {
    for (const [i, g] of gates.entries()) {
      await g.control('prof-start');
      await loginStorm(paths[i]!, clients, 1_000_000, budgetMs);
      await g.control(`prof-stop ${resolve(`${args.profile}-${'ab'[i]}.cpuprofile`)}`);
    }
  }
  const a = median(cpu[0]!);
  const b = median(cpu[1]!);
  process.stdout.write(
    `${args.tls ? 'TLS' : 'plain'}, ${clients} clients, ${rounds} rounds of ${args.seconds} s\n` +
      `A ${builds[0]}: ${a.toFixed(3)} ms/login, ${median(rate[0]!).toFixed(0)} logins/s, Dovecot ${median(dov[0]!).toFixed(3)} ms/login\n` +
      `B ${builds[1]}: ${b.toFixed(3)} ms/login, ${median(rate[1]!).toFixed(0)} logins/s, Dovecot ${median(dov[1]!).toFixed(3)} ms/login\n` +
      `B - A: ${((b - a) * 1000).toFixed(0)} µs/login (${(((b - a) / a) * 100).toFixed(1)} %); B wins ${cpu[1]!.filter((x, i) => x < cpu[0]![i]!).length}/${rounds} rounds\n`,
  );
}

main()
  .catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
