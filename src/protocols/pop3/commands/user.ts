import { R } from '../responses.js';
import type { CommandHandler } from './types.js';

/** USER name (RFC 1939 §7): remembered for PASS; refused before TLS unless plaintext is allowed. */
export const user: CommandHandler = async (s, cmd) => {
  if (!s.plaintextAllowed) {
    s.send(R.plaintextDisallowed);
    return 'continue';
  }
  if (cmd.rest === '') return s.bad(R.invalidArguments);
  s.pendingUser = cmd.rest;
  s.send(R.ok);
  return 'continue';
};

/** PASS secret: the rest of the line is the secret, spaces included (as Dovecot reads it). */
export const pass: CommandHandler = async (s, cmd) => {
  if (!s.plaintextAllowed) {
    s.send(R.plaintextDisallowed);
    return 'continue';
  }
  const name = s.pendingUser;
  if (name === null) {
    s.send(R.noUsername);
    return 'continue';
  }
  s.pendingUser = null;
  return s.login(name, cmd.rest);
};
