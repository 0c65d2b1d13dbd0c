/** mailgate passcodes create|list|revoke|scope */
import { parseDuration } from '../config/load.js';
import { PROTOCOLS, type Protocol } from '../store/types.js';
import { openCore } from '../main.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

export const PASSCODES_HELP = `mailgate passcodes create USER --name NAME [--scopes imap,smtp,pop3] [--expires 90d]
                                           prints the new passcode once
mailgate passcodes list USER
mailgate passcodes revoke USER ID          ends the passcode's live sessions too
mailgate passcodes scope USER ID --scopes imap,smtp
                                           new scopes; live sessions of a removed protocol end`;

export async function passcodesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    name: { type: 'string' },
    scopes: { type: 'string' },
    expires: { type: 'string' },
  });
  const [verb, user, id] = positionals;
  if (values.help || !verb) {
    io.out(PASSCODES_HELP);
    return verb ? 0 : 2;
  }
  if (!user) throw new CliError(`usage: mailgate passcodes ${verb} USER …\n${PASSCODES_HELP}`);
  let scopes: Protocol[] = ['imap', 'smtp'];
  if (values.scopes !== undefined) {
    const list = values.scopes
      .split(/[,\s]+/)
      .filter(Boolean)
      .map((s) => s.toLowerCase());
    const bad = list.filter((s) => !PROTOCOLS.includes(s as Protocol));
    if (bad.length || list.length === 0)
      throw new CliError(`--scopes takes a comma-separated list of ${PROTOCOLS.join(', ')}; got ${values.scopes}`);
    scopes = list as Protocol[];
  }
  let expiresIn: number | null = null;
  if (values.expires !== undefined) {
    expiresIn = parseDuration(values.expires);
    if (expiresIn === null || expiresIn <= 0) throw new CliError(`--expires takes a duration like 90d, 12h or 30m; got ${values.expires}`);
  }
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const m = core.manager;
    switch (verb) {
      case 'create': {
        if (!values.name) throw new CliError('--name is required, e.g. --name "Thunderbird laptop"');
        const r = await m.createPasscode(user, {
          name: values.name,
          scopes,
          expiresAt: expiresIn === null ? null : core.clock.now() + expiresIn,
        });
        if (values.json) {
          io.out(JSON.stringify({ passcode: r.formatted, ...r.info }, null, 2));
          return 0;
        }
        io.out(
          `Passcode for ${r.info.username} — "${r.info.name}" (${r.info.scopes.join(', ')}${r.info.expiresAt ? `, expires ${time(r.info.expiresAt)}` : ''}), id ${r.info.id}:\n\n    ${r.formatted}\n\nIt is shown only this once. Enter it as the password in the mail app (spaces are optional).`,
        );
        return 0;
      }
      case 'list': {
        const rows = await m.listPasscodes(user);
        io.out(
          values.json
            ? JSON.stringify(rows, null, 2)
            : table(
                rows.map((p) => ({
                  ...p,
                  scopes: p.scopes.join(','),
                  created: time(p.createdAt),
                  expires: time(p.expiresAt),
                  lastUsed: time(p.lastUsedAt),
                  from: p.lastUsedIp,
                  client: p.lastUsedClient,
                })),
                ['id', 'name', 'scopes', 'status', 'created', 'expires', 'lastUsed', 'from', 'client'],
              ),
        );
        return 0;
      }
      case 'revoke': {
        if (!id) throw new CliError('usage: mailgate passcodes revoke USER ID (the id is in `mailgate passcodes list USER`)');
        const r = await m.revokePasscode(user, id);
        if (values.json) {
          io.out(JSON.stringify(r));
          return r.revoked ? 0 : 1;
        }
        if (!r.revoked) {
          io.err(`no active passcode ${id} for ${user} (see mailgate passcodes list ${user})`);
          return 1;
        }
        io.out(`revoked ${id}; a running mailgate ends its live sessions within a second`);
        return 0;
      }
      case 'scope': {
        if (!id || values.scopes === undefined)
          throw new CliError('usage: mailgate passcodes scope USER ID --scopes imap,smtp (the id is in `mailgate passcodes list USER`)');
        const r = await m.setPasscodeScopes(user, id, scopes);
        if (values.json) {
          io.out(JSON.stringify({ ...r, scopes }));
          return r.updated ? 0 : 1;
        }
        if (!r.updated) {
          io.err(`no active passcode ${id} for ${user} (see mailgate passcodes list ${user})`);
          return 1;
        }
        io.out(`${id} now covers ${scopes.join(', ')}; a running mailgate ends its sessions of other protocols within a second`);
        return 0;
      }
      default:
        throw new CliError(`unknown passcodes command: ${verb}\n${PASSCODES_HELP}`);
    }
  } finally {
    await core.close();
  }
}
