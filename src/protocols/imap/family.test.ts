import { describe, expect, it } from 'vitest';
import { detectImapFamily, familyTraits } from './family.js';

// Greetings and ID answers as the servers send them (Dovecot and Cyrus: seen in the testbeds).
const CYRUS_GREETING =
  '* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN SASL-IR] mailgate-testbed Cyrus IMAP 3.6.1-Debian-3.6.1-4+deb12u5 server ready';
const CYRUS_ID = '* ID ("name" "Cyrus IMAPD" "version" "3.6.1-Debian-3.6.1-4+deb12u5" "vendor" "Project Cyrus")';

describe('detectImapFamily', () => {
  it('recognises Dovecot and Cyrus from their greetings and ID answers', () => {
    expect(detectImapFamily('* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.', null)).toBe('dovecot');
    expect(detectImapFamily(CYRUS_GREETING, null)).toBe('cyrus');
    expect(detectImapFamily('* OK ready', CYRUS_ID)).toBe('cyrus');
    expect(detectImapFamily('* OK ready', '* ID ("name" "Dovecot")')).toBe('dovecot');
  });

  it('prefers the ID name over a greeting the admin changed', () => {
    expect(detectImapFamily('* OK Cyrus-compatible mail ready', '* ID ("name" "Dovecot")')).toBe('dovecot');
  });

  it('knows the other families by their greetings, and says unknown otherwise', () => {
    expect(detectImapFamily('* OK Zimbra IMAP4rev1 server ready', null)).toBe('zimbra');
    expect(detectImapFamily('* OK Stalwart IMAP4rev2 at your service.', null)).toBe('stalwart');
    expect(detectImapFamily('* OK The Microsoft Exchange IMAP4 service is ready.', null)).toBe('exchange');
    expect(detectImapFamily('* OK [CAPABILITY IMAP4rev1] Courier-IMAP ready.', null)).toBe('courier');
    expect(detectImapFamily('* OK IMAP4rev1 ready', '* ID NIL')).toBe('unknown');
  });
});

describe('familyTraits', () => {
  it('checks the INBOX itself only for Cyrus, which logs a proxy in as anyone; Cyrus refusals never mean "unknown user"', () => {
    expect(familyTraits('dovecot').checksTarget).toBe(true);
    expect(familyTraits('dovecot').unknownUser?.test('NO [AUTHORIZATIONFAILED] Authorization failed')).toBe(true);
    expect(familyTraits('cyrus').checksTarget).toBe(false);
    expect(familyTraits('cyrus').unknownUser).toBeNull();
    expect(familyTraits('unknown').checksTarget).toBe(true); // untested families: no extra round trip
  });
});
