/** mailgate totp status|reset */
import { randomBytes } from 'node:crypto';
import { createTwoFactor, issuerFor, type TwoFactor } from '../core/twofactor.js';
import { openCore, type Core } from '../main.js';
import { CliError, parse, readConfig, time, type Io } from './util.js';

export const TOTP_HELP = `mailgate totp status USER                 is two-factor authentication on; emergency codes left
mailgate totp reset USER                  lost phone: remove the authenticator and emergency codes,
                                           end portal sessions (mail apps keep their passcodes)`;

/** The two-factor service over an opened core (shared with \`codes\`). */
export function twoFactorOf(core: Core): TwoFactor {
  return createTwoFactor({
    store: core.store, hasher: core.hasher, keys: core.keys, clock: core.clock, random: randomBytes,
    policy: core.config.policy, identity: core.identity, manager: core.manager, issuer: issuerFor(core.config.portal?.publicUrl ?? null),
  });
}

export async function totpCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const [verb, user] = positionals;
  if (values.help || !verb) { io.out(TOTP_HELP); return verb ? 0 : 2; }
  if (!user) throw new CliError(`usage: mailgate totp ${verb} USER\n${TOTP_HELP}`);
  if (verb !== 'status' && verb !== 'reset') throw new CliError(`unknown totp command: ${verb}\n${TOTP_HELP}`);
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const tf = twoFactorOf(core);
    if (verb === 'status') {
      const s = await tf.status(user);
      if (values.json) { io.out(JSON.stringify(s, null, 2)); return 0; }
      io.out(s.enabled
        ? `two-factor authentication: on since ${time(s.enabledAt)}\nemergency codes: ${s.codesLeft} of ${s.codesTotal} left${s.required ? '\nrequired by policy or an admin: the user cannot turn it off' : ''}`
        : `two-factor authentication: off${s.required ? ' (required by policy or an admin: the user is asked to turn it on in the portal)' : ''}`);
      return 0;
    }
    const r = await tf.reset(user, { actor: 'cli' });
    if (values.json) { io.out(JSON.stringify(r)); return r.removed ? 0 : 1; }
    if (!r.removed) { io.err(`${user} has no authenticator app: nothing to reset (emergency codes cleared, ${r.portalSessionsEnded} portal sessions ended)`); return 1; }
    io.out(`removed the authenticator app and emergency codes of ${user}; ended ${r.portalSessionsEnded} portal session(s).\nThe user now signs in to the portal with the main password alone and turns two-factor authentication on again. Mail apps keep working with their passcodes.`);
    return 0;
  } finally {
    await core.close();
  }
}
