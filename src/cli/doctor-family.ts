/**
 * What `mailgate doctor` tells an admin per upstream family: the server-side setting that makes
 * mailgate's upstream login work, in that server's own words (docs/UPSTREAMS.md has the details).
 */
import { familyTraits, type ImapFamily } from '../protocols/imap/family.js';

/** The server-side fix when the upstream refuses mailgate's master/proxy login. */
export function masterLoginAdvice(family: ImapFamily, method: string, user: string): string {
  switch (family) {
    case 'dovecot':
      return `Dovecot: a passdb with master = yes and pass = yes that holds ${user}${method === 'separator' ? ', and auth_master_user_separator' : ''}`;
    case 'cyrus':
      return method === 'sasl-proxy'
        ? `Cyrus: "proxyservers: ${user}" in imapd.conf, and ${user} with this password in Cyrus' SASL database (saslpasswd2)`
        : `Cyrus has no master-user separator: use imap.upstream.auth.method sasl-proxy with a user listed in Cyrus' proxyservers`;
    default:
      return `${familyTraits(family).name}: an account that may log in as other users (SASL PLAIN authzid, RFC 4616), see docs/UPSTREAMS.md`;
  }
}

/** How the real client address reaches the upstream's logs, and what to set for it. */
export function clientAddressAdvice(family: ImapFamily, trusted: boolean): string {
  if (!trusted) return "imap.upstream.trusted is false: the upstream sees and penalises mailgate's address, not the client's";
  if (family === 'dovecot')
    return "mailgate sends ID x-originating-ip; Dovecot uses it only if mailgate's address is in login_trusted_networks (doveconf login_trusted_networks; not visible from outside)";
  return `mailgate sends ID x-originating-ip; whether ${familyTraits(family).name} logs or uses it is not known to mailgate (docs/UPSTREAMS.md)`;
}

export type SmtpFamily = 'postfix' | 'exim' | 'exchange' | 'unknown';

/** The SMTP server family from its 220 greeting (Postfix keeps "ESMTP Postfix" in smtpd_banner by default). */
export function detectSmtpFamily(greeting: string): SmtpFamily {
  if (/\bPostfix\b/i.test(greeting)) return 'postfix';
  if (/\bExim\b/i.test(greeting)) return 'exim';
  if (/\bMicrosoft\b/i.test(greeting)) return 'exchange';
  return 'unknown';
}

/** Where XCLIENT for mailgate is switched on, per SMTP family. */
export function xclientAdvice(family: SmtpFamily): string {
  if (family === 'postfix') return "add mailgate's address to Postfix's smtpd_authorized_xclient_hosts";
  return `this server (${family}) may not support XCLIENT: use smtp.upstream.auth.method sasl-proxy (AUTH PLAIN with a master user) if it offers that`;
}
