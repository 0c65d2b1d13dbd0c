import { R } from '../responses.js';
import { astring } from '../wire.js';
import type { CommandHandler } from '../types.js';

/** LOGIN user password (astrings: atom, quoted string or literal, UTF-8). */
export const login: CommandHandler = async (s, cmd) => {
  const [u, p] = cmd.args;
  const user = astring(u);
  const password = astring(p);
  if (cmd.args.length !== 2 || user === null || password === null)
    return s.bad(cmd.tag, 'LOGIN expects a user name and a password.', false);
  // RFC 9051 §6.2.3: with LOGINDISABLED the server answers NO, whatever the credentials.
  if (!s.plaintextAllowed) {
    s.send(`${cmd.tag} ${R.privacyRequired}`);
    return 'continue';
  }
  return s.login(cmd.tag, user, password);
};
