/**
 * Which POP3 server sits upstream, recognised from its greeting, and how its answer to a master
 * login says "no such user". Differences between servers are absorbed here and in adapter.ts,
 * never in the session (as imap/family.ts does for IMAP); docs/UPSTREAMS.md has each family.
 */
export type Pop3Family = 'dovecot' | 'cyrus' | 'unknown';

export interface Pop3Traits {
  /** Display name for logs. */
  name: string;
  /**
   * The refusal of a master login that means "the upstream has no such user". Dovecot refuses the
   * login itself with RFC 5530's "Authorization failed". Cyrus pop3d accepts a proxy server as any
   * authzid and only then fails to open the INBOX: "-ERR [SYS/TEMP] Unable to open maildrop:
   * Mailbox does not exist" (tested with 3.6; a [SYS/…] code that would otherwise read as the
   * server's own trouble). Its refused master login is a bare "-ERR [AUTH] authenticating:
   * authentication failure", which means nothing about the user.
   */
  unknownUser: RegExp;
}

const AUTHORIZATION_FAILED = /\bAuthorization failed\b/i;

const TRAITS: Record<Pop3Family, Pop3Traits> = {
  dovecot: { name: 'Dovecot', unknownUser: AUTHORIZATION_FAILED },
  cyrus: { name: 'Cyrus POP3', unknownUser: /^-ERR (\[SYS\/(TEMP|PERM)\] )?Unable to (open|locate) maildrop: Mailbox does not exist/i },
  unknown: { name: 'unknown POP3 server', unknownUser: AUTHORIZATION_FAILED },
};

/** The family from the upstream's greeting ("+OK … Cyrus POP3 3.6.1 server ready", "+OK Dovecot ready."). */
export function detectPop3Family(greeting: string): Pop3Family {
  if (/\bCyrus\b/i.test(greeting)) return 'cyrus';
  if (/\bDovecot\b/i.test(greeting)) return 'dovecot';
  return 'unknown';
}

/** The login behaviour mailgate assumes for a family. */
export function pop3Traits(family: Pop3Family): Pop3Traits {
  return TRAITS[family];
}
