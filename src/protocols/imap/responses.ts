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
} as const;
