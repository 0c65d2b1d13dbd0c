/**
 * The typed registry of SMTP commands before AUTH (RFC 5321 §4.1, RFC 3207, RFC 4954). Anything
 * not listed is answered 502 and counts as a bad command; after AUTH the upstream answers
 * everything itself.
 */
import type { SmtpCommand } from '../types.js';
import { auth } from './auth.js';
import { help, needsAuth, noop, quit } from './basic.js';
import { ehlo, helo } from './hello.js';
import { starttls } from './starttls.js';

export const COMMANDS: Readonly<Record<string, SmtpCommand>> = Object.freeze({
  EHLO: ehlo,
  HELO: helo,
  STARTTLS: starttls,
  AUTH: auth,
  NOOP: noop,
  RSET: noop,
  QUIT: quit,
  HELP: help,
  MAIL: needsAuth,
  RCPT: needsAuth,
  DATA: needsAuth,
  BDAT: needsAuth,
  VRFY: needsAuth,
  EXPN: needsAuth,
  ETRN: needsAuth,
});
