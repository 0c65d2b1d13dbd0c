import { describe, expect, it } from 'vitest';
import { greetingText, preLoginCapabilities } from './capabilities.js';

const DOVECOT = [
  'CAPA',
  'TOP',
  'UIDL',
  'RESP-CODES',
  'PIPELINING',
  'AUTH-RESP-CODE',
  'STLS',
  'USER',
  'SASL PLAIN LOGIN CRAM-MD5',
  'XCLIENT',
  'IMPLEMENTATION Dovecot',
];

describe('POP3 CAPA before login', () => {
  it('in clear without plaintext: STLS only, no USER nor SASL, XCLIENT removed, the rest in the upstream order', () => {
    expect(preLoginCapabilities(DOVECOT, { plaintextAllowed: false, starttlsAvailable: true })).toEqual([
      'CAPA',
      'TOP',
      'UIDL',
      'RESP-CODES',
      'PIPELINING',
      'AUTH-RESP-CODE',
      'STLS',
      'IMPLEMENTATION Dovecot',
    ]);
  });

  it('over TLS: USER and SASL filtered to PLAIN LOGIN, in place; no STLS', () => {
    expect(preLoginCapabilities(DOVECOT, { plaintextAllowed: true, starttlsAvailable: false })).toEqual([
      'CAPA',
      'TOP',
      'UIDL',
      'RESP-CODES',
      'PIPELINING',
      'AUTH-RESP-CODE',
      'USER',
      'SASL PLAIN LOGIN',
      'IMPLEMENTATION Dovecot',
    ]);
  });

  it('adds what the upstream lacks at the end, once', () => {
    expect(preLoginCapabilities(['TOP', 'UIDL'], { plaintextAllowed: true, starttlsAvailable: true })).toEqual([
      'TOP',
      'UIDL',
      'STLS',
      'USER',
      'SASL PLAIN LOGIN',
    ]);
  });
});

describe('POP3 greeting text', () => {
  it('drops the response code meant for mailgate and any APOP timestamp', () => {
    expect(greetingText('+OK [XCLIENT] Dovecot ready.')).toBe('Dovecot ready.');
    expect(greetingText('+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>')).toBe('POP3 server ready');
    expect(greetingText('+OK')).toBe('');
  });
});
