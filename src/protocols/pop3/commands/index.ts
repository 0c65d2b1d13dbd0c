/**
 * The typed registry of pre-login POP3 commands (RFC 1939 §4, RFC 2449, RFC 2595, RFC 5034).
 * Anything not listed is "-ERR Unknown command." and counts against the bad-command budget —
 * NOOP included, as Dovecot answers it before login.
 */
import type { CommandHandler } from './types.js';
import { apop } from './apop.js';
import { auth } from './auth.js';
import { capa } from './capa.js';
import { pass, user } from './user.js';
import { quit } from './quit.js';
import { stls } from './stls.js';

export type { CommandHandler, Next, Pop3Command, SessionApi } from './types.js';

export const COMMANDS: Readonly<Record<string, CommandHandler>> = Object.freeze({
  CAPA: capa,
  STLS: stls,
  USER: user,
  PASS: pass,
  AUTH: auth,
  APOP: apop,
  QUIT: quit,
});
