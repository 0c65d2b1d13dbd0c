/**
 * Types shared by the POP3 session and its command files, in their own module so that the
 * command table and the commands never import each other.
 */
import type { Next } from '../../front/types.js';

export type { Next };

/** One command line: RFC 1939 keywords are case-insensitive, arguments separated by one space. */
export interface Pop3Command {
  /** Upper-cased keyword, e.g. USER. */
  name: string;
  /** Everything after the keyword and its space, exactly as sent (PASS may contain spaces). */
  rest: string;
}

/** The part of the session a command may use. */
export interface SessionApi {
  /** USER/PASS and AUTH allowed here (TLS, or the admin allowed plaintext). */
  readonly plaintextAllowed: boolean;
  /** The name given by USER, waiting for PASS. */
  pendingUser: string | null;
  send(line: string): void;
  capabilities(): string[];
  /** The SASL mechanisms offered on this connection (none before TLS without plaintext). */
  mechanisms(): string[];
  /** Answers an invalid command with `reply`; past the budget of bad commands hangs up. */
  bad(reply: string): Promise<Next>;
  /** Writes `reply`, waits until it is sent, then closes. */
  quit(reply: string): Promise<Next>;
  startTls(): Promise<Next>;
  /** Reads one line of a SASL exchange; null when the client went away. */
  readContinuation(): Promise<string | null>;
  login(user: string, secret: string): Promise<Next>;
  /** Answers a login refused before the core saw it, at the same time as every other failure. */
  refuse(): Promise<Next>;
}

export type CommandHandler = (s: SessionApi, cmd: Pop3Command) => Promise<Next>;
