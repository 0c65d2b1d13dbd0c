/**
 * Types shared by the IMAP session and its command files, in their own module so the commands,
 * their registry (commands/index.ts) and the session never import each other in a circle.
 */
import type { Next } from '../front/types.js';
import type { ImapCommand } from './wire.js';

export type { Next };

/** The part of the session a command may use. */
export interface SessionApi {
  readonly secure: boolean;
  /** LOGIN/AUTHENTICATE allowed here (TLS, or the admin allowed plaintext). */
  readonly plaintextAllowed: boolean;
  send(line: string): void;
  capabilities(): readonly string[];
  idResponse(): string;
  setClientId(fields: Array<[string, string]>): void;
  bad(tag: string | null, text: string, fatal: boolean): Promise<Next>;
  startTls(tag: string): Promise<Next>;
  readContinuation(): Promise<string | null>;
  login(tag: string, user: string, secret: string): Promise<Next>;
  /** Answers a login refused before the core saw it, at the same time as every other failure. */
  refuse(tag: string): Promise<Next>;
}

/** One pre-login command: parse its arguments, act through the session, say what comes next. */
export type CommandHandler = (s: SessionApi, cmd: ImapCommand) => Promise<Next>;
