/** The one place where outcomes become IMAP response text (RFC 9051 / RFC 5530 response codes). */

export const R = {
  authFailed: 'NO [AUTHENTICATIONFAILED] Authentication failed.',
  unavailable: 'NO [UNAVAILABLE] Service temporarily unavailable, please try again later.',
  privacyRequired: 'NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
  tooManyBad: '* BYE Too many invalid IMAP commands.',
  tooManyCommands: '* BYE Too many commands before login.',
  tooManyConnections: '* BYE Too many connections from your address.',
  idleTimeout: '* BYE Disconnected for inactivity.',
  lineTooLong: '* BYE Input line too long.',
  shuttingDown: '* BYE Server shutting down.',
  passcodeRevoked: '* BYE [ALERT] This app passcode was revoked.',
  passcodeExpired: '* BYE [ALERT] This app passcode has expired.',
} as const;

/**
 * A refusal on an enforced account (core RefusalHint): the client's user sees the [ALERT] (RFC 9051
 * §7.1: clients must show it), and the tagged NO carries the same words for clients that show only
 * that. Same code as every other failure, so a client's behaviour does not change.
 */
export function needsPasscode(tag: string, url: string | null): string[] {
  const text = url ? `This account needs an app passcode: ${url}` : "This account needs an app passcode from your account's security page";
  return [`* OK [ALERT] ${text}`, `${tag} NO [AUTHENTICATIONFAILED] ${text}`];
}
