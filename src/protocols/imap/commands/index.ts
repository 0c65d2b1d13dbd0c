/**
 * The typed registry of pre-login commands (RFC 9051 §6.1–6.2). Each command is a small module
 * that receives the session as a parameter; anything not listed here is BAD before login.
 */
import type { ImapCommand } from '../wire.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { id } from './id.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { noop } from './noop.js';
import { starttls } from './starttls.js';

/** What the session does after a command: read the next one, hang up, or it was handed off. */
export type Next = 'continue' | 'close' | 'handoff';

/** The part of the session a command may use. */
export interface SessionApi {
  readonly secure: boolean;
  /** LOGIN/AUTHENTICATE allowed here (TLS, or the admin allowed plaintext). */
  readonly plaintextAllowed: boolean;
  send(line: string): void;
  capabilities(): string[];
  idResponse(): string;
  setClientId(fields: Array<[string, string]>): void;
  bad(tag: string | null, text: string, fatal: boolean): Promise<Next>;
  startTls(tag: string): Promise<Next>;
  readContinuation(): Promise<string | null>;
  login(tag: string, user: string, secret: string): Promise<Next>;
  /** Answers a login refused before the core saw it, at the same time as every other failure. */
  refuse(tag: string): Promise<Next>;
}

export type CommandHandler = (s: SessionApi, cmd: ImapCommand) => Promise<Next>;

export const COMMANDS: Readonly<Record<string, CommandHandler>> = Object.freeze({
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  ID: id,
  STARTTLS: starttls,
  LOGIN: login,
  AUTHENTICATE: authenticate,
});
