/** mailgate totp status|reset|enrol-code */
import { randomBytes } from 'node:crypto';
import { parseDuration } from '../config/load.js';
import { createTwoFactor, issuerFor, type TwoFactor } from '../core/twofactor.js';
import { openCore, type Core } from '../main.js';
import { CliError, parse, readConfig, time, type Io } from './util.js';

export const TOTP_HELP = `mailgate totp status USER                 is two-factor authentication on; emergency codes left
mailgate totp reset USER                  lost phone: remove the authenticator and emergency codes,
                                           end portal sessions (mail apps keep their passcodes);
                                           with portal.first_enrolment: code, prints a new enrolment code
mailgate totp enrol-code USER [--expires 7d]
                                          one-time code the user needs to turn 2FA on (first_enrolment:
                                           code); printed once, replaces any earlier one`;

/** How to hand over an enrolment code, printed with it. */
const HAND_OVER = 'Give it to the user by a channel a password thief does not have (on paper, by phone, in person). It works once.';

/** The two-factor service over an opened core (shared with \`codes\`). */
export function twoFactorOf(core: Core): TwoFactor {
  return createTwoFactor({
    store: core.store,
    hasher: core.hasher,
    keys: core.keys,
    clock: core.clock,
    random: randomBytes,
    policy: core.config.policy,
    identity: core.identity,
    manager: core.manager,
    issuer: issuerFor(core.config.portal?.publicUrl ?? null),
    firstEnrolment: core.config.portal?.firstEnrolment ?? 'open',
  });
}

export async function totpCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { expires: { type: 'string' } });
  const [verb, user] = positionals;
  if (values.help || !verb) {
    io.out(TOTP_HELP);
    return verb ? 0 : 2;
  }
  if (!user) throw new CliError(`usage: mailgate totp ${verb} USER\n${TOTP_HELP}`);
  if (verb !== 'status' && verb !== 'reset' && verb !== 'enrol-code') throw new CliError(`unknown totp command: ${verb}\n${TOTP_HELP}`);
  let ttlMs: number | undefined;
  if (values.expires !== undefined) {
    const d = parseDuration(values.expires);
    if (d === null || d <= 0) throw new CliError(`--expires takes a duration like 7d, 12h or 30m; got ${values.expires}`);
    ttlMs = d;
  }
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const tf = twoFactorOf(core);
    if (verb === 'enrol-code') {
      const r = await tf.issueEnrolCode(user, { actor: 'cli' }, ttlMs);
      if (values.json) {
        io.out(JSON.stringify(r, null, 2));
        return 0;
      }
      io.out(`Enrolment code for ${user}, valid until ${time(r.expiresAt)}:\n\n    ${r.code}\n\nIt is shown only this once. ${HAND_OVER}`);
      if (tf.firstEnrolment !== 'code')
        io.err('note: portal.first_enrolment is "open" in this configuration, so the portal does not ask for it yet');
      return 0;
    }
    if (verb === 'status') {
      const s = await tf.status(user);
      if (values.json) {
        io.out(JSON.stringify(s, null, 2));
        return 0;
      }
      io.out(
        s.enabled
          ? `two-factor authentication: on since ${time(s.enabledAt)}\nemergency codes: ${s.codesLeft} of ${s.codesTotal} left${s.required ? '\nrequired by policy or an admin: the user cannot turn it off' : ''}`
          : `two-factor authentication: off${s.required ? ' (required by policy or an admin: the user is asked to turn it on in the portal)' : ''}`,
      );
      return 0;
    }
    const r = await tf.reset(user, { actor: 'cli' });
    if (values.json) {
      io.out(JSON.stringify(r));
      return r.removed ? 0 : 1;
    }
    if (!r.removed) {
      io.err(
        `${user} has no authenticator app: nothing to reset (emergency codes cleared, ${r.portalSessionsEnded} portal sessions ended)`,
      );
      return 1;
    }
    io.out(
      `removed the authenticator app and emergency codes of ${user}; ended ${r.portalSessionsEnded} portal session(s).\nThe user now signs in to the portal with the main password and turns two-factor authentication on again. Mail apps keep working with their passcodes.`,
    );
    if (r.enrolCode)
      io.out(
        `\nTurning it on again needs this enrolment code (valid until ${time(r.enrolCode.expiresAt)}):\n\n    ${r.enrolCode.code}\n\nIt is shown only this once. ${HAND_OVER}`,
      );
    return 0;
  } finally {
    await core.close();
  }
}
