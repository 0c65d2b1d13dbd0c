/** TLS material for the listeners, loaded from PEM files (reloadable: a new context per call). */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface ServerTls {
  /** For in-place upgrades (STARTTLS). */
  context: SecureContext;
  /** For tls.createServer / server.setSecureContext (implicit TLS). */
  options: { cert: Buffer; key: Buffer; minVersion: 'TLSv1.2' };
}

export function loadServerTls(tls: { cert: string; key: string }): ServerTls {
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
  const options = { cert, key, minVersion: 'TLSv1.2' as const };
  try {
    return { context: createSecureContext(options), options };
  } catch (e) {
    throw new Error(`the TLS certificate/key pair (${tls.cert}, ${tls.key}) is not usable: ${(e as Error).message}`);
  }
}
