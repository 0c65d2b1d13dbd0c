/**
 * The one place where outcomes become POP3 reply text. Texts follow Dovecot's pop3-login, so a
 * client sees the same words through mailgate as directly; response codes are RFC 2449's
 * extended-response-code form with RFC 3206's AUTH and SYS/TEMP.
 */

export const R = {
  ok: '+OK',
  authFailed: '-ERR [AUTH] Authentication failed.',
  unavailable: '-ERR [SYS/TEMP] Temporary authentication failure, please try again later.',
  plaintextDisallowed: '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
  unknownCommand: '-ERR Unknown command.',
  apopDisabled: '-ERR APOP not enabled.',
  noUsername: '-ERR No username given.',
  invalidArguments: '-ERR Invalid arguments.',
  unsupportedMechanism: '-ERR Unsupported authentication mechanism.',
  authAborted: '-ERR Authentication aborted by client.',
  invalidBase64: '-ERR Invalid base64 data in continued response.',
  invalidPlain: '-ERR Invalid PLAIN response.',
  stlsBegin: '+OK Begin TLS negotiation now.',
  tlsActive: '-ERR TLS is already active.',
  tlsUnavailable: "-ERR TLS support isn't enabled.",
  logout: '+OK Logging out.',
  tooManyBad: '-ERR Too many invalid commands.',
  tooManyCommands: '-ERR Too many commands before login.',
  tooManyConnections: '-ERR [SYS/TEMP] Too many connections from your address.',
  idleTimeout: '-ERR Disconnected for inactivity.',
  lineTooLong: '-ERR Input line too long.',
} as const;

/** A refusal on an enforced account (core RefusalHint): the usual [AUTH] failure with the reason. */
export function needsPasscode(url: string | null): string {
  return url
    ? `-ERR [AUTH] This account needs an app passcode: ${url}`
    : "-ERR [AUTH] This account needs an app passcode from your account's security page";
}

/** A multi-line POP3 answer (RFC 1939 §3): "+OK", the lines (dot-stuffed), ".". */
export function multiline(lines: readonly string[]): string {
  return ['+OK', ...lines.map((l) => (l.startsWith('.') ? `.${l}` : l)), '.'].join('\r\n');
}
