/** TLS material for the listeners, loaded from PEM files (reloadable: a new context per call). */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface ServerTls {
  /** For in-place upgrades (STARTTLS). */
  context: SecureContext;
  /** For tls.createServer / server.setSecureContext (implicit TLS). */
  options: { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2'; sessionIdContext: string; ticketKeys?: Buffer };
}

/** `ticketKeys`: the session-ticket keys shared by every worker and instance (core/keys.ts ticketKeysAt). */
export function loadServerTls(tls: { cert: string; key: string }, ticketKeys?: Buffer): ServerTls {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(tls.cert);
  } catch (e) {
    throw new Error(`cannot read the TLS certificate ${tls.cert}: ${(e as Error).message}`);
  }
  try {
    key = readFileSync(tls.key);
  } catch (e) {
    throw new Error(`cannot read the TLS key ${tls.key}: ${(e as Error).message}`);
  }
  // One session-id context everywhere: a session resumes only where it matches, and Node's default
  // for tls.createServer (a hash of the command line) differs from a bare secure context's (none),
  // so a STARTTLS upgrade could not resume a session from the implicit-TLS port, nor one worker's.
  const options = { cert, key, minVersion: 'TLSv1.2' as const, sessionIdContext: 'mailgate', ...(ticketKeys ? { ticketKeys } : {}) };
  try {
    return { context: createSecureContext(options), options };
  } catch (e) {
    throw new Error(`the TLS certificate/key pair (${tls.cert}, ${tls.key}) is not usable: ${(e as Error).message}`);
  }
}

/** The same certificate with other session-ticket keys (the next period's). */
export function withTicketKeys(tls: ServerTls, ticketKeys: Buffer): ServerTls {
  const options = { ...tls.options, ticketKeys };
  return { context: createSecureContext(options), options };
}
