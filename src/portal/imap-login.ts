/**
 * Checks a main password the only way mailgate can: by logging in to the upstream IMAP server as
 * the user, with the user's own credentials, over TLS as configured. The password is used for
 * this one login and then dropped — never stored, never logged.
 */
import { ImapFlow } from 'imapflow';
import type { UpstreamConfig } from '../config/types.js';
import type { ImapLogin } from './types.js';

/** The upstream could not say yes or no (down, TLS failure, timeout). */
export class UpstreamUnavailable extends Error {}

const MAX_SECRET_BYTES = 1024;

export function createImapLogin(upstream: UpstreamConfig): ImapLogin {
  return async (user, password, clientIp) => {
    // Same limits as the mail fronts: nothing the upstream would accept anyway.
    if (!user || !password || password.includes('\u0000') || user.includes('\u0000') || Buffer.byteLength(password) > MAX_SECRET_BYTES) return false;
    const client = new ImapFlow({
      host: upstream.host, port: upstream.port,
      secure: upstream.tls === 'implicit',
      // true: STARTTLS or fail (no silent clear-text fallback); false: never.
      doSTARTTLS: upstream.tls === 'starttls',
      tls: {
        ca: upstream.ca ?? undefined, rejectUnauthorized: upstream.rejectUnauthorized, minVersion: 'TLSv1.2',
        servername: upstream.servername ?? (/^[\d.:]+$/.test(upstream.host) ? undefined : upstream.host),
      },
      auth: { user, pass: password },
      // A trusted upstream (login_trusted_networks) takes the real client address from ID, so its
      // own failed-login penalties land on that client rather than on mailgate.
      clientInfo: { name: 'mailgate portal', ...(upstream.trusted && clientIp ? { 'x-originating-ip': clientIp } : {}) },
      logger: false, disableAutoIdle: true, disableCompression: true,
      connectionTimeout: upstream.connectTimeoutMs, greetingTimeout: upstream.connectTimeoutMs, socketTimeout: 30_000,
    });
    client.on('error', () => { /* reported through connect() */ });
    try {
      await client.connect();
      return true;
    } catch (e) {
      if ((e as { authenticationFailed?: boolean }).authenticationFailed) return false;
      throw new UpstreamUnavailable(`IMAP upstream ${upstream.host}:${upstream.port}: ${(e as Error).message}`);
    } finally {
      await client.logout().catch(() => client.close());
    }
  };
}
