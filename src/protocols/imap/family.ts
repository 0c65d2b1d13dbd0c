/**
 * Which IMAP server family sits upstream, recognised from its ID answer (RFC 2971) and greeting,
 * and what that means for the login on a user's behalf. Differences between servers are absorbed
 * here and in upstream.ts, never in the front: see docs/UPSTREAMS.md for each family.
 */
export type ImapFamily = 'dovecot' | 'cyrus' | 'zimbra' | 'stalwart' | 'exchange' | 'courier' | 'unknown';

export interface FamilyTraits {
  /** Display name for logs and `mailgate doctor`. */
  name: string;
  /**
   * The master/proxy login itself fails for a user the server does not know. Dovecot (passdb
   * `pass = yes`, userdb lookup) answers `NO [AUTHORIZATIONFAILED]`; Cyrus logs a proxy server in
   * as any authzid, existing or not (tested: OK, then `SELECT INBOX` → `NO Mailbox does not
   * exist`), so for Cyrus mailgate asks for the INBOX itself (one more round trip per login).
   * Families not tested here keep the plain behaviour; `mailgate doctor` warns when an upstream
   * logs the master in as a user that cannot exist.
   */
  checksTarget: boolean;
  /**
   * How a refusal that means "no such user" looks for a master login. Dovecot: the RFC 5530 code
   * AUTHORIZATIONFAILED. Cyrus answers every refusal (wrong master password, master not in
   * `proxyservers`) with a bare `NO authentication failure`: none of them means "unknown user".
   */
  unknownUser: RegExp | null;
}

const RFC5530_AUTHZ = /\[AUTHORIZATIONFAILED\]/i;

const TRAITS: Record<ImapFamily, FamilyTraits> = {
  dovecot: { name: 'Dovecot', checksTarget: true, unknownUser: RFC5530_AUTHZ },
  cyrus: { name: 'Cyrus IMAP', checksTarget: false, unknownUser: null },
  zimbra: { name: 'Zimbra', checksTarget: true, unknownUser: RFC5530_AUTHZ },
  stalwart: { name: 'Stalwart', checksTarget: true, unknownUser: RFC5530_AUTHZ },
  exchange: { name: 'Microsoft Exchange', checksTarget: true, unknownUser: RFC5530_AUTHZ },
  courier: { name: 'Courier', checksTarget: true, unknownUser: RFC5530_AUTHZ },
  unknown: { name: 'unknown IMAP server', checksTarget: true, unknownUser: RFC5530_AUTHZ },
};

/** ID "name" values and greeting words of each family, most specific first. */
const MARKERS: Array<[RegExp, ImapFamily]> = [
  [/\bDovecot\b/i, 'dovecot'],
  [/\bCyrus\b/i, 'cyrus'],
  [/\bZimbra\b/i, 'zimbra'],
  [/\bStalwart\b/i, 'stalwart'],
  [/\bMicrosoft Exchange\b|\bExchange IMAP4\b/i, 'exchange'],
  [/\bCourier\b/i, 'courier'],
];

/**
 * The family from the upstream's `* ID (…)` answer (its "name" field, when it sent one) or else
 * its greeting text. An admin may change the greeting (Dovecot `login_greeting`), so the ID
 * name, which the admin rarely touches, wins.
 */
export function detectImapFamily(greeting: string, idLine: string | null): ImapFamily {
  const idName = idLine ? (/"name"\s+"([^"]*)"/i.exec(idLine)?.[1] ?? '') : '';
  for (const text of [idName, greeting]) {
    for (const [re, family] of MARKERS) if (re.test(text)) return family;
  }
  return 'unknown';
}

/** The login behaviour mailgate assumes for a family. */
export function familyTraits(family: ImapFamily): FamilyTraits {
  return TRAITS[family];
}
