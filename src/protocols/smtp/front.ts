/**
 * SMTP submission front (smtp-server): AUTH PLAIN/LOGIN checked by the core, then the
 * authenticated transaction relayed to the upstream logged in as the user.
 * (Stub: being implemented.)
 */
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { ListenConfig, UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../net/logger.js';
import type { ServerTls } from '../../net/tls.js';

export interface SmtpSettings {
  upstream: UpstreamConfig;
  /** Name used in our greeting/EHLO when the upstream's cannot be learned. */
  hostname: string;
  allowPlaintextAuth: boolean;
  failureDelayMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
}

export interface SmtpDeps {
  settings: SmtpSettings;
  tls: ServerTls | null;
  authenticator: Authenticator;
  sessions: SessionRegistry;
  log: Logger;
  now: () => number;
}

export interface SmtpFront {
  addresses: Array<{ host: string; port: number; tls: ListenConfig['tls'] }>;
  close(): Promise<void>;
}

export async function startSmtpFront(_deps: SmtpDeps, _listen: readonly ListenConfig[]): Promise<SmtpFront> {
  throw new Error('SMTP front not implemented yet');
}
