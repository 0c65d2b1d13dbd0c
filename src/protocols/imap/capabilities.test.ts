import { describe, expect, it } from 'vitest';
import { preLoginCapabilities } from './capabilities.js';

// Dovecot 2.3's greeting in clear and after STARTTLS.
const DOVECOT_CLEAR = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED'.split(' ');
const DOVECOT_TLS = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN'.split(' ');

describe('pre-login capabilities', () => {
  it("keep the upstream's list and order, replacing only authentication and TLS", () => {
    expect(preLoginCapabilities(DOVECOT_CLEAR, { secure: false, starttlsAvailable: true, allowPlaintextAuth: false }).join(' ')).toBe(
      'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED',
    );
    expect(preLoginCapabilities(DOVECOT_TLS, { secure: true, starttlsAvailable: false, allowPlaintextAuth: false }).join(' ')).toBe(
      'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN',
    );
    // The upstream's mechanisms are never copied: mailgate checks PLAIN and LOGIN only.
    expect(
      preLoginCapabilities(['IMAP4rev1', 'AUTH=GSSAPI', 'AUTH=PLAIN', 'IDLE'], {
        secure: true,
        starttlsAvailable: false,
        allowPlaintextAuth: false,
      }),
    ).toEqual(['IMAP4rev1', 'SASL-IR', 'ID', 'LITERAL+', 'AUTH=PLAIN', 'AUTH=LOGIN', 'IDLE']);
  });

  it('add what mailgate implements before login when the upstream lacks it, and IMAP4rev1 first', () => {
    expect(preLoginCapabilities(['IDLE'], { secure: false, starttlsAvailable: true, allowPlaintextAuth: false })).toEqual([
      'IMAP4rev1',
      'IDLE',
      'SASL-IR',
      'ID',
      'LITERAL+',
      'STARTTLS',
      'LOGINDISABLED',
    ]);
    expect(preLoginCapabilities(['IMAP4rev1', 'LITERAL-'], { secure: false, starttlsAvailable: false, allowPlaintextAuth: true })).toEqual([
      'IMAP4rev1',
      'LITERAL-',
      'SASL-IR',
      'ID',
      'AUTH=PLAIN',
      'AUTH=LOGIN',
    ]);
  });
});
