/**
 * An outside referee: Dovecot's own stress tool, imaptest, run against the direct path and the
 * mailgate path with the same user, clients and seconds, alternating (`--imaptest PATH`). Two
 * profiles: login-heavy (`- logout=100`: connect, LOGIN, SELECT, LOGOUT, again) and imaptest's
 * default command mix; 10 and 50 clients. imaptest changes the INBOX (APPEND, STORE, EXPUNGE), so
 * run.ts runs this phase last. Building imaptest for Debian 12's Dovecot 2.3.19: bench/README.md.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { add, paired, type Ctx } from './rounds.js';
import { workDir } from './testbed.js';

export interface ImaptestResult {
  /** Totals per command column (Logi, Sele, Logo, …) over the run. */
  totals: Record<string, number>;
  /** imaptest's "ms/cmd avg" per column. */
  avgMs: Record<string, number>;
  seconds: number;
}

const PROFILES = [
  { name: 'login-heavy (- logout=100)', args: ['-', 'logout=100'] },
  { name: 'default command mix', args: [] as string[] },
] as const;

/** Reads imaptest's end-of-run block: the "ms/cmd avg" line and the "Totals:" table. */
export function parseImaptest(out: string, seconds: number): ImaptestResult {
  const lines = out.split('\n');
  const t = lines.lastIndexOf('Totals:');
  if (t < 0) throw new Error(`imaptest printed no totals: ${out.slice(-400)}`);
  const header = (lines[t + 1] ?? '').trim().split(/\s+/);
  const numbers = lines
    .slice(t + 2)
    .map((l) => l.trim())
    .filter((l) => /^\d+(\s+\d+)*$/.test(l))
    .pop();
  const counts = (numbers ?? '').split(/\s+/).map(Number);
  const avgLine = lines.find((l) => l.includes('ms/cmd avg')) ?? '';
  const avg = avgLine.replace('ms/cmd avg', '').trim().split(/\s+/).map(Number);
  const totals: Record<string, number> = {};
  const avgMs: Record<string, number> = {};
  header.forEach((h, i) => {
    totals[h] = counts[i] ?? Number.NaN;
    avgMs[h] = avg[i] ?? Number.NaN;
  });
  return { totals, avgMs, seconds };
}

function runImaptest(
  bin: string,
  port: number,
  user: string,
  secret: string,
  clients: number,
  seconds: number,
  profile: readonly string[],
  mbox: string,
) {
  const argv = [
    'host=127.0.0.1',
    `port=${port}`,
    `user=${user}`,
    `pass=${secret}`,
    `clients=${clients}`,
    `secs=${seconds}`,
    `mbox=${mbox}`,
    ...profile,
  ];
  // A build against Debian's dovecot-dev links libdovecot.so from Dovecot's private directory.
  const env = { ...process.env, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH ?? '/usr/lib/dovecot' };
  return new Promise<ImaptestResult>((resolve, reject) => {
    execFile(bin, argv, { env, timeout: (seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      try {
        resolve(parseImaptest(`${stdout}`, seconds));
      } catch (e) {
        reject(err ? new Error(`imaptest failed: ${err.message} ${String(stderr).slice(-400)}`) : e);
      }
    });
  });
}

/** Small messages imaptest APPENDs (its `mbox=` source). */
function writeMbox(): string {
  const file = join(workDir(), 'imaptest.mbox');
  let s = '';
  for (let i = 0; i < 50; i++) {
    s += `From bench@example.com Mon Jan  1 00:00:00 2024\nFrom: bench@example.com\nTo: bench@example.com\n`;
    s += `Subject: imaptest ${i}\nMessage-ID: <imaptest-${i}@example.com>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n`;
    s += `${'a line of text for imaptest\n'.repeat(10 + (i % 40))}\n`;
  }
  writeFileSync(file, s);
  return file;
}

/** The phase for run.ts, bound to the imaptest binary. */
export function imaptestPhase(bin: string): (ctx: Ctx) => Promise<void> {
  return async (ctx) => {
    const mbox = writeMbox();
    const seconds = ctx.quick ? 5 : 20;
    for (const profile of PROFILES) {
      for (const clients of [10, 50]) {
        const res = await paired(ctx, `imaptest ${profile.name}, ${clients} clients`, (w) => {
          const p = w === 'direct' ? ctx.direct.plain : ctx.gatePaths.plain;
          return runImaptest(bin, p.ep.port, p.user, p.secret, clients, seconds, profile.args, mbox);
        });
        const section = `imaptest ${profile.name}, ${clients} clients, ${seconds} s, plain`;
        const per = (xs: ImaptestResult[], f: (r: ImaptestResult) => number) => xs.map(f);
        const commands = (r: ImaptestResult) => Object.values(r.totals).reduce((a, b) => a + b, 0) / r.seconds;
        add(ctx, {
          section,
          metric: 'logins/s',
          unit: '/s',
          compare: 'ratio',
          d: per(res.direct, (r) => (r.totals.Logi ?? Number.NaN) / r.seconds),
          m: per(res.mailgate, (r) => (r.totals.Logi ?? Number.NaN) / r.seconds),
        });
        add(ctx, {
          section,
          metric: 'commands/s (all columns)',
          unit: '/s',
          compare: 'ratio',
          d: per(res.direct, commands),
          m: per(res.mailgate, commands),
        });
        add(ctx, {
          section,
          metric: 'LOGIN: average',
          unit: 'ms',
          compare: 'delta',
          d: per(res.direct, (r) => r.avgMs.Logi ?? Number.NaN),
          m: per(res.mailgate, (r) => r.avgMs.Logi ?? Number.NaN),
        });
      }
    }
  };
}
