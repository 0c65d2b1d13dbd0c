/**
 * SMTP replies as values (RFC 5321 codes, RFC 3463 enhanced codes), like go-smtp's SMTPError:
 * commands return one of these, and the session is the one place that writes them. After the
 * login every reply is the upstream's own, byte for byte; these are only mailgate's.
 */

export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code, written only when ENHANCEDSTATUSCODES is advertised. */
  enhanced?: string;
  lines: readonly string[];
}

const r = (code: number, enhanced: string | undefined, text: string): SmtpReply => ({ code, enhanced, lines: [text] });

export const R = {
  ok: r(250, '2.0.0', 'Ok'),
  bye: r(221, '2.0.0', 'Bye'),
  help: r(214, '2.0.0', 'See RFC 5321; log in with AUTH to send mail'),
  readyTls: r(220, '2.0.0', 'Ready to start TLS'),
  authSucceeded: r(235, '2.7.0', 'Authentication successful'),
  authFailed: r(535, '5.7.8', 'Authentication failed'),
  authRequired: r(530, '5.7.0', 'Authentication required'),
  encryptionRequired: r(538, '5.7.11', 'Encryption required for requested authentication mechanism'),
  unavailable: r(454, '4.7.0', 'Temporary authentication failure, please try again later'),
  authAborted: r(501, '5.7.0', 'Authentication aborted'),
  badBase64: r(501, '5.5.2', 'Cannot decode response'),
  badAuthSyntax: r(501, '5.5.4', 'Syntax: AUTH mechanism [initial-response]'),
  unknownMechanism: r(504, '5.5.4', 'Unrecognized authentication type'),
  sayHelloFirst: r(503, '5.5.1', 'Error: send HELO/EHLO first'),
  heloSyntax: r(501, '5.5.4', 'Syntax: EHLO hostname'),
  noArguments: r(501, '5.5.4', 'Syntax error: no arguments allowed'),
  tlsActive: r(503, '5.5.1', 'Error: TLS already active'),
  tlsUnavailable: r(502, '5.5.1', 'Error: STARTTLS not available'),
  unknownCommand: r(502, '5.5.2', 'Error: command not recognized'),
  lineTooLong: r(500, '5.5.6', 'Error: line too long'),
  tooManyErrors: r(421, '4.7.0', 'Too many errors, closing connection'),
  tooManyCommands: r(421, '4.7.0', 'Too many commands before login, closing connection'),
  tooManyConnections: r(421, '4.7.0', 'Too many connections from your address'),
  idleTimeout: r(421, '4.4.2', 'Timeout exceeded, closing connection'),
  revoked: r(421, '4.7.0', 'Session ended: the credentials were revoked'),
  passcodeExpired: r(421, '4.7.0', 'Session ended: this app passcode has expired'),
  shuttingDown: r(421, '4.3.2', 'Service shutting down'),
  upstreamLost: r(421, '4.4.2', 'Connection to the mail server lost, please try again'),
} as const satisfies Record<string, SmtpReply>;

/** A refusal on an enforced account (core RefusalHint): the usual 535 5.7.8 with the reason. */
export function needsPasscode(url: string | null): SmtpReply {
  const where = url ? `: ${url}` : " from your account's security page";
  return r(535, '5.7.8', `Authentication failed: this account needs an app passcode${where}`);
}

/** The wire form: "250-…" lines then "250 …", CRLF each; enhanced codes only when advertised. */
export function formatReply(reply: SmtpReply, enhanced: boolean): string {
  const code = enhanced && reply.enhanced ? `${reply.enhanced} ` : '';
  const last = reply.lines.length - 1;
  return reply.lines.map((l, i) => `${reply.code}${i < last ? '-' : ' '}${code}${l}\r\n`).join('');
}

/** A reply that is a syntax or sequence error: these count against the budget of bad commands. */
export function isBad(reply: SmtpReply): boolean {
  return reply.code >= 500 && reply.code <= 504;
}
