import { describe, expect, it } from 'vitest';
import { detectPop3Family, pop3Traits } from './family.js';

const CYRUS_GREETING = '+OK mailgate-testbed Cyrus POP3 3.6.1-Debian-3.6.1-4+deb12u5 server ready <1.2@mailgate-testbed>';

describe('POP3 upstream family', () => {
  it('recognises Cyrus and Dovecot by their greetings; anything else is unknown', () => {
    expect(detectPop3Family(CYRUS_GREETING)).toBe('cyrus');
    expect(detectPop3Family('+OK [XCLIENT] Dovecot (mailgate testbed) ready.')).toBe('dovecot');
    expect(detectPop3Family('+OK POP3 server ready')).toBe('unknown');
  });

  it("reads Cyrus' missing INBOX after a proxy login as an unknown user, and nothing else", () => {
    const re = pop3Traits('cyrus').unknownUser;
    expect(re.test('-ERR [SYS/TEMP] Unable to open maildrop: Mailbox does not exist')).toBe(true);
    expect(re.test('-ERR [AUTH] authenticating: authentication failure')).toBe(false); // master refused
    expect(re.test('-ERR [SYS/PERM] Unable to open maildrop: System I/O error')).toBe(false);
    expect(re.test('-ERR [IN-USE] Unable to lock maildrop: Mailbox is locked')).toBe(false);
  });

  it("keeps Dovecot's RFC 5530 text for Dovecot and for servers it does not know", () => {
    for (const f of ['dovecot', 'unknown'] as const) {
      expect(pop3Traits(f).unknownUser.test('-ERR [AUTH] Authorization failed')).toBe(true);
      expect(pop3Traits(f).unknownUser.test('-ERR [SYS/TEMP] Unable to open maildrop: Mailbox does not exist')).toBe(false);
    }
  });
});
