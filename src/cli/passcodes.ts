/** mailgate passcodes create|list|revoke|scope|rename|allow */
import { parseDuration } from '../config/load.js';
import { PROTOCOLS, type Protocol } from '../store/types.js';
import { openCore } from '../main.js';
import { CliError, parse, readConfig, table, time, type Io } from './util.js';

export const PASSCODES_HELP = `mailgate passcodes create USER --name NAME [--scopes imap,smtp,pop3] [--expires 90d]
                          [--allow 192.0.2.0/24,…]  prints the new passcode once
mailgate passcodes list USER
mailgate passcodes revoke USER ID          ends the passcode's live sessions too
mailgate passcodes scope USER ID --scopes imap,smtp
                                           new scopes; live sessions of a removed protocol end
mailgate passcodes rename USER ID NAME
mailgate passcodes allow USER ID CIDR[,CIDR…] | --anywhere
                                           where it may log in from; logins from elsewhere fail`;

export async function passcodesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {
    name: { type: 'string' },
    scopes: { type: 'string' },
    expires: { type: 'string' },
    allow: { type: 'string' },
    anywhere: { type: 'boolean' },
  });
  const [verb, user, id, ...rest] = positionals;
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
          allowedNetworks: values.allow === undefined ? null : [values.allow],
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
                  allowed: p.allowedNetworks?.join(',') ?? 'anywhere',
                })),
                ['id', 'name', 'scopes', 'status', 'created', 'expires', 'lastUsed', 'from', 'client', 'allowed'],
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
      case 'rename': {
        const name = rest.join(' ') || values.name;
        if (!id || !name) throw new CliError('usage: mailgate passcodes rename USER ID NAME (the id is in `mailgate passcodes list USER`)');
        const r = await m.renamePasscode(user, id, name);
        return report(io, values.json, r, { ...r, name: name.trim() }, `${id} is now called "${name.trim()}"`, user, id);
      }
      case 'allow': {
        if (!id || (rest.length === 0) === !values.anywhere)
          throw new CliError('usage: mailgate passcodes allow USER ID CIDR[,CIDR…] or --anywhere (e.g. 192.0.2.0/24,2001:db8::/32)');
        const r = await m.setPasscodeNetworks(user, id, values.anywhere ? null : rest);
        const where = values.anywhere
          ? 'from anywhere'
          : `only from ${(await m.listPasscodes(user)).find((p) => p.id === id)?.allowedNetworks?.join(', ')}`;
        return report(io, values.json, r, r, `${id} may now log in ${where}; its live sessions from elsewhere end`, user, id);
      }
      default:
        throw new CliError(`unknown passcodes command: ${verb}\n${PASSCODES_HELP}`);
    }
  } finally {
    await core.close();
  }
}

/** The common end of the update verbs: JSON, or a line for humans; exit 1 when nothing was updated. */
function report(io: Io, json: boolean | undefined, r: { updated: boolean }, out: object, done: string, user: string, id: string): number {
  if (json) io.out(JSON.stringify(out));
  else if (r.updated) io.out(done);
  else io.err(`no active passcode ${id} for ${user} (see mailgate passcodes list ${user})`);
  return r.updated ? 0 : 1;
}
