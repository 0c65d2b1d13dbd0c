/** mailgate accounts list|show|enforce|release */
import { openCore } from '../main.js';
import type { AccountView } from '../core/manage.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

/** Where an account's enforcement comes from, in words. */
const source = (a: AccountView): string =>
  a.override === null ? 'from policy' : a.enforcedBy === 'portal' ? 'turned on by the user in the portal' : 'admin override';

export const ACCOUNTS_HELP = `mailgate accounts list                    accounts with an override or passcodes
mailgate accounts show USER               enforcement and passcodes of one account
mailgate accounts enforce USER            require application passcodes for USER (override)
mailgate accounts enforce USER --off      never enforce USER (override)
mailgate accounts release USER            drop the override: follow policy.enforce again`;

export async function accountsCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { off: { type: 'boolean', default: false } });
  const [verb, user] = positionals;
  if (values.help || !verb) {
    io.out(ACCOUNTS_HELP);
    return verb ? 0 : 2;
  }
  if (verb !== 'list' && !user) throw new CliError(`usage: mailgate accounts ${verb} USER`);
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const m = core.manager;
    switch (verb) {
      case 'list': {
        const rows = await m.listAccounts();
        io.out(
          values.json
            ? JSON.stringify(rows, null, 2)
            : table(
                rows.map((r) => ({ ...r, override: r.override === null ? 'policy' : r.override ? 'on' : 'off', by: r.enforcedBy })),
                ['username', 'enforced', 'override', 'by', 'activePasscodes', 'passcodes'],
              ),
        );
        return 0;
      }
      case 'show': {
        const a = await m.showAccount(user!);
        if (values.json) {
          io.out(JSON.stringify(a, null, 2));
          return 0;
        }
        io.out(
          `account:   ${a.username}\nenforced:  ${a.enforced ? 'yes' : 'no'} (${source(a)})\npasscodes: ${a.activePasscodes} active of ${a.passcodes}`,
        );
        if (a.passcodeList.length)
          io.out(
            table(
              a.passcodeList.map((p) => ({ ...p, scopes: p.scopes.join(','), created: time(p.createdAt), lastUsed: time(p.lastUsedAt) })),
              ['id', 'name', 'scopes', 'status', 'created', 'lastUsed'],
            ),
          );
        return 0;
      }
      case 'enforce':
      case 'release': {
        const a = await m.setEnforcement(user!, verb === 'release' ? null : !values.off);
        io.out(
          values.json
            ? JSON.stringify(a, null, 2)
            : `${a.username}: ${a.enforced ? 'enforced — only application passcodes work for IMAP/SMTP' : 'not enforced — the main password works'} (${source(a)})`,
        );
        return 0;
      }
      default:
        throw new CliError(`unknown accounts command: ${verb}\n${ACCOUNTS_HELP}`);
    }
  } finally {
    await core.close();
  }
}
