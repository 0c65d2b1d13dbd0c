/**
 * Types shared by the SMTP session and its command files, in their own module so the commands,
 * their registry (commands/index.ts) and the session never import each other in a circle.
 */
import type { Next } from '../front/types.js';
import type { SmtpReply } from './replies.js';

/**
 * What a command returns: the reply the session writes (the one place that writes replies and
 * counts bad ones), then what comes next; 'starttls' upgrades the connection after the reply,
 * `after` runs once the reply is written (the hand-off to the upstream after 235).
 */
export interface Answer {
  reply: SmtpReply | null;
  next: Next | 'starttls';
  after?: () => void;
}

/** The part of the session a command may use. */
export interface SmtpSessionApi {
  /** The EHLO/HELO name, null before the client said hello (or after STARTTLS reset it). */
  helo: string | null;
  readonly secure: boolean;
  /** AUTH allowed here (TLS, or the admin allowed plaintext). */
  readonly plaintextAllowed: boolean;
  readonly starttlsAvailable: boolean;
  /** EHLO's extension lines for this connection's state. */
  keywords(): string[];
  readonly hostname: string;
  /** Sends a 334 challenge and reads the client's line; null when the client went away. */
  ask(challenge: string): Promise<string | null>;
  /** The one login flow, failures timed from when the current command arrived. */
  login(user: string, secret: string): Promise<Answer>;
  /** A login refused before the core saw it (PLAIN authzid ≠ authcid), due with every other failure. */
  refuse(): Promise<Answer>;
}

/** One pre-login command: `args` is the text after the verb (may be empty). */
export type SmtpCommand = (s: SmtpSessionApi, args: string) => Promise<Answer>;

/** Helpers for the common answers. */
export const reply = (r: SmtpReply): Answer => ({ reply: r, next: 'continue' });
