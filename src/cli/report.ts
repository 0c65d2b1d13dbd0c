/**
 * mailgate report rollout [--domain D] [--json]: who would break if enforcement started now, and
 * how far each account got (core/rollout-report.ts — the admin API's GET /rollout says the same).
 */
import { type RolloutReport, rolloutReport } from '../core/rollout-report.js';
import { openCore } from '../main.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

export const REPORT_HELP = `mailgate report rollout [--domain D]      per account: mode (and date), mail apps still using the main
                                           password (would break), 2FA enrolled, active passcodes; per-domain totals`;

/** The report as three tables: accounts, would-break clients, domain totals. */
export function reportText(r: RolloutReport): string {
  const accounts = r.accounts.map((a) => ({
    account: a.account,
    mode: a.mode,
    from: a.from === null ? null : time(a.from),
    '2fa': a.totpEnrolled ? 'yes' : 'no',
    passcodes: a.activePasscodes,
    'would-break': a.wouldBreak.length,
  }));
  const clients = r.accounts.flatMap((a) =>
    a.wouldBreak.map((c) => ({
      account: a.account,
      client: c.client ?? '(no name)',
      protocol: c.protocol,
      ip: c.ip,
      'last-seen': time(c.lastSeen),
      count: c.count,
    })),
  );
  return [
    'Accounts',
    table(accounts, ['account', 'mode', 'from', '2fa', 'passcodes', 'would-break']),
    '',
    'Mail apps still using the main password (would break when enforced)',
    table(clients, ['account', 'client', 'protocol', 'ip', 'last-seen', 'count']),
    '',
    'Domains',
    table(
      r.domains.map((d) => ({ ...d, 'would-break': d.wouldBreak, 'with-passcodes': d.withPasscodes })),
      ['domain', 'accounts', 'would-break', 'enrolled', 'with-passcodes'],
    ),
  ].join('\n');
}

export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { domain: { type: 'string', short: 'd' } });
  if (values.help || positionals.length === 0) {
    io.out(REPORT_HELP);
    return values.help ? 0 : 2;
  }
  if (positionals[0] !== 'rollout' || positionals.length > 1)
    throw new CliError(`unknown report ${JSON.stringify(positionals.join(' '))}\n${REPORT_HELP}`);
  const config = readConfig(values.config, io);
  const core = await openCore(config, { hashWorkers: 1 });
  try {
    const report = await rolloutReport(
      { store: core.store, policy: config.policy, clock: core.clock, expireUnusedMs: config.passcodes.expireUnusedMs },
      values.domain,
    );
    io.out(values.json ? JSON.stringify(report, null, 2) : reportText(report));
    return 0;
  } finally {
    await core.close();
  }
}
