/**
 * The rollout report (`mailgate report rollout`, GET /api/admin/rollout): for each account, its
 * mode now, the mail apps that would break when it is enforced (main-password logins recorded in
 * observe mode), and how ready it is (authenticator enrolled, active passcodes); totals per
 * domain. One function, so the CLI and the API can only ever say the same thing.
 *
 * Accounts listed: every account mailgate knows (an override or a passcode) and every account
 * with a recorded would-break login.
 */
import { domainOf } from './identity.js';
import { passcodeStatus } from './passcode-limits.js';
import { type EnforcePolicy, type ModeAt, modeAt } from './rollout.js';
import type { Clock } from './types.js';
import type { ObservationRow, Store } from '../store/types.js';

export interface WouldBreakClient {
  /** Null when the client gave no name (POP3, an IMAP client without ID). */
  client: string | null;
  protocol: ObservationRow['protocol'];
  ip: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export interface RolloutAccount extends ModeAt {
  account: string;
  domain: string;
  wouldBreak: WouldBreakClient[];
  totpEnrolled: boolean;
  activePasscodes: number;
}

export interface RolloutDomain {
  domain: string;
  accounts: number;
  /** Accounts with at least one would-break client. */
  wouldBreak: number;
  /** Accounts with an authenticator app in force. */
  enrolled: number;
  /** Accounts with at least one active passcode. */
  withPasscodes: number;
}

export interface RolloutReport {
  generatedAt: number;
  accounts: RolloutAccount[];
  domains: RolloutDomain[];
}

export interface ReportDeps {
  store: Store;
  policy: EnforcePolicy;
  clock: Clock;
  /** `passcodes.expire_unused`: a passcode past its unused deadline is not counted as active. */
  expireUnusedMs: number | null;
}

/** Builds the report, for one domain if `domain` is given (lower-cased, a leading "@" ignored). */
export async function rolloutReport(deps: ReportDeps, domain?: string): Promise<RolloutReport> {
  const { store, clock } = deps;
  const now = clock.now();
  const only = domain?.trim().toLowerCase().replace(/^@/, '');
  const observed = new Map<string, WouldBreakClient[]>();
  for (const { username, ...o } of await store.listObservations()) {
    if (!observed.has(username)) observed.set(username, []);
    observed.get(username)?.push(o);
  }
  const overrides = new Map((await store.listAccounts()).map((a) => [a.username, a.enforced]));
  const names = [...new Set([...overrides.keys(), ...observed.keys()])]
    .filter((a) => only === undefined || domainOf(a) === only)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const accounts: RolloutAccount[] = [];
  for (const account of names) {
    const [totp, passcodes] = await Promise.all([store.getTotp(account), store.listPasscodes(account)]);
    accounts.push({
      account,
      domain: domainOf(account),
      ...modeAt(deps.policy.enforce, overrides.get(account), account, now),
      wouldBreak: observed.get(account) ?? [],
      totpEnrolled: totp?.secret != null,
      activePasscodes: passcodes.filter((p) => passcodeStatus(p, now, deps.expireUnusedMs) === 'active').length,
    });
  }
  return { generatedAt: now, accounts, domains: totals(accounts) };
}

function totals(accounts: readonly RolloutAccount[]): RolloutDomain[] {
  const by = new Map<string, RolloutDomain>();
  for (const a of accounts) {
    const d = by.get(a.domain) ?? { domain: a.domain, accounts: 0, wouldBreak: 0, enrolled: 0, withPasscodes: 0 };
    by.set(a.domain, d);
    d.accounts++;
    if (a.wouldBreak.length) d.wouldBreak++;
    if (a.totpEnrolled) d.enrolled++;
    if (a.activePasscodes > 0) d.withPasscodes++;
  }
  return [...by.values()].sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
}
