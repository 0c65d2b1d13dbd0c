/**
 * The typed registry of pre-login commands (RFC 9051 §6.1–6.2). Each command is a small module
 * that receives the session as a parameter; anything not listed here is BAD before login.
 */
import type { CommandHandler } from '../types.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { id } from './id.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { noop } from './noop.js';
import { starttls } from './starttls.js';

export const COMMANDS: Readonly<Record<string, CommandHandler>> = Object.freeze({
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  STARTTLS: starttls,
  LOGIN: login,
  AUTHENTICATE: authenticate,
});
