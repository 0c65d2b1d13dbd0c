/**
 * The one place where outcomes become SMTP reply text (RFC 5321 codes, RFC 3463 enhanced codes),
 * and where upstream replies are handed to smtp-server so they reach the client verbatim.
 */
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { enhancedCode, type Reply } from './reply.js';

export interface SmtpReplyText { code: number; text: string }

export const R = {
  authFailed: { code: 535, text: '5.7.8 Authentication failed' },
  authRequired: { code: 530, text: '5.7.0 Authentication required' },
  encryptionRequired: { code: 538, text: '5.7.11 Encryption required for requested authentication mechanism' },
  unavailable: { code: 454, text: '4.7.0 Temporary authentication failure, please try again later' },
  upstreamLost: { code: 421, text: '4.4.2 Connection to the mail server lost, please try again' },
  upstreamLostInData: { code: 451, text: '4.4.2 Connection to the mail server lost, message not accepted' },
  revoked: { code: 421, text: '4.7.0 Session ended: the credentials were revoked' },
  shuttingDown: { code: 421, text: '4.3.2 Service shutting down' },
  tooManyConnections: { code: 421, text: '4.7.0 Too many connections from your address' },
  internal: { code: 451, text: '4.3.0 Internal error, please try again later' },
} as const satisfies Record<string, SmtpReplyText>;

/** An error for an smtp-server callback: the client gets exactly this code and text. */
export function smtpError(r: SmtpReplyText): Error & { responseCode: number } {
  return Object.assign(new Error(r.text), { responseCode: r.code });
}

/** The upstream's reply (all its lines) as an smtp-server error. */
export function upstreamError(r: Reply): Error & { responseCode: number } {
  return smtpError({ code: r.code, text: r.lines.join('\n') });
}

/** The upstream's reply text for a success callback (e.g. "2.0.0 Ok: queued as …"). */
export function upstreamText(r: Reply): string {
  return r.lines.join('\n');
}

/**
 * smtp-server puts its own enhanced status code (chosen from the reply code alone) in front of
 * every reply text. Texts that already carry one (ours, and the upstream's) must go out as they
 * are: this wraps the connection's `send` so that such texts are sent with no code added, lines
 * separated by "\n" become a multi-line reply, and the codes are dropped when ENHANCEDSTATUSCODES
 * is not advertised (the upstream does not use them).
 */
export function sendVerbatim(conn: SMTPConnection, enhancedAdvertised: () => boolean): void {
  const send = conn.send.bind(conn);
  conn.send = (code: number, data?: string | string[] | null, context?: string | false): void => {
    if (typeof data !== 'string' || (!data.includes('\n') && enhancedCode(data) === null)) return send(code, data, context);
    const lines = data.split('\n');
    if (!lines.every((l) => enhancedCode(l) !== null)) return send(code, lines.length === 1 ? lines[0] : lines, context);
    const out = enhancedAdvertised() ? lines : lines.map((l) => l.replace(/^\S+ ?/, ''));
    send(code, out.length === 1 ? out[0] : out, false);
  };
}
