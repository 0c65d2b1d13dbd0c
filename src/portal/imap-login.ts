/**
 * Checks a main password the only way mailgate can: by logging in to the upstream IMAP server as
 * the user, with the user's own credentials, over TLS as configured. It goes through the mail
 * front's own upstream adapter (ImapUpstream: the same connect, TLS name rule, STARTTLS and login
 * code), so the portal and the fronts cannot disagree on how the upstream is reached. The
 * password is used for this one login and then dropped — never stored, never logged.
 */
import { isIP } from 'node:net';
import type { UpstreamConfig } from '../config/types.js';
import { UpstreamError } from '../net/upstream.js';
import { ImapUpstream } from '../protocols/imap/upstream.js';
import type { ImapLogin } from './types.js';

const MAX_SECRET_BYTES = 1024;

/** A refusal that says "cannot tell" rather than "wrong password" (RFC 5530 response codes). */
const NOT_A_VERDICT = /^\[(UNAVAILABLE|SERVERBUG|INUSE|CONTACTADMIN)\b/i;

/**
 * A check against `upstream`: true/false for right/wrong credentials; throws an UpstreamError
 * (with its stage: connect, tls, greeting, protocol, login) when the upstream cannot tell.
 */
export function createImapLogin(upstream: UpstreamConfig): ImapLogin {
  return async (user, password, clientIp) => {
    // Same limits as the mail fronts: nothing the upstream would accept anyway.
    if (!user || !password || password.includes('\u0000') || user.includes('\u0000') || Buffer.byteLength(password) > MAX_SECRET_BYTES)
      return false;
    const up = await ImapUpstream.open(upstream);
    try {
      // A trusted upstream (login_trusted_networks) takes the real client address from ID, so its
      // own failed-login penalties land on that client rather than on mailgate.
      if (upstream.trusted && clientIp && isIP(clientIp) && up.has('ID')) {
        await up.command(`ID ("name" "mailgate portal" "x-originating-ip" "${clientIp}")`);
      }
      const r = await up.login({ kind: 'user', user, password });
      if (r.status === 'OK') return true;
      if (r.status === 'BAD' || NOT_A_VERDICT.test(r.text))
        throw new UpstreamError(`the upstream did not check the password: ${r.status} ${r.text.slice(0, 200)}`, 'login');
      return false;
    } finally {
      // Polite LOGOUT in the background; the answer does not wait for it.
      void up
        .command('LOGOUT')
        .catch(() => {})
        .finally(() => up.close());
    }
  };
}
