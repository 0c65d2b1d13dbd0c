/** mailgate codes generate */
import { openCore } from '../main.js';
import { CliError, parse, readConfig, type Io } from './util.js';
import { twoFactorOf } from './totp.js';

export const CODES_HELP = `mailgate codes generate USER              new emergency codes (prints them once; the old set stops working)`;

export async function codesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, {});
  const [verb, user] = positionals;
  if (values.help || !verb) {
    io.out(CODES_HELP);
    return verb ? 0 : 2;
  }
  if (verb !== 'generate') throw new CliError(`unknown codes command: ${verb}\n${CODES_HELP}`);
  if (!user) throw new CliError(`usage: mailgate codes generate USER\n${CODES_HELP}`);
  const core = await openCore(readConfig(values.config, io), { hashWorkers: 1 });
  try {
    const codes = await twoFactorOf(core).regenerateCodes(user, { actor: 'cli' });
    if (values.json) {
      io.out(JSON.stringify({ username: user, codes }, null, 2));
      return 0;
    }
    io.out(
      `Emergency codes for ${user} — each works once instead of a code from the phone; the old set no longer works.\nThey are shown only this once: hand them over safely.\n\n${codes.map((c, i) => `  ${String(i + 1).padStart(2)}. ${c}`).join('\n')}`,
    );
    return 0;
  } finally {
    await core.close();
  }
}
