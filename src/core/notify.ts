/**
 * Security notices for the account owner. First enrolment is trust-on-first-use: someone who
 * knows a main password can enrol their own authenticator and mint passcodes. Telling the owner,
 * in their own mailbox, about every such change is what lets them notice and react.
 *
 * Pure: an audit event in, a plain-text RFC 5322 message out. Everything an event carries (names,
 * client strings, IPs) is untrusted and is cleaned before it reaches a header or the body, so a
 * passcode called "x\r\nBcc: …" cannot add a header. No secret is ever in an audit event, and
 * nothing here reads one.
 */
import { domainOf } from './identity.js';
import type { AuditEvent } from '../store/types.js';

export interface NotifySettings {
  /** From header; default `mailgate <postmaster@<account's domain or localhost>>`. */
  from: string | null;
  /** Where the owner signs in to check and repair (portal.public_url), if known. */
  portalUrl: string | null;
}

export interface Notice {
  subject: string;
  text: string;
  /** A reminder rather than a change someone made: no "if it was not you" advice follows. */
  reminder?: boolean;
}

const SCOPE_WORDS: Record<string, string> = { imap: 'IMAP (reading mail)', smtp: 'SMTP (sending mail)', pop3: 'POP3 (downloading mail)' };

/**
 * Control characters (C0, DEL, C1), line/paragraph separators and bidi overrides become spaces:
 * no header injection, no bare LF, no right-to-left trick hiding a name's real text.
 */
export function cleanText(value: unknown, max = 200): string {
  const s = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
  // eslint-disable-next-line no-control-regex
  const flat = s
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function str(detail: AuditEvent['detail'], key: string): string | null {
  const v = detail?.[key];
  return typeof v === 'string' && v.trim() !== '' ? v : null;
}

/** Who acted, in the owner's words (the audit event's actor: portal, cli, api, …). */
function byWhom(actor: string | null): string {
  if (actor === 'portal') return 'in the self-service portal';
  if (actor === 'cli') return 'by an administrator (command line)';
  if (actor === 'api') return 'by an administrator (admin API)';
  return actor ? `by ${cleanText(actor, 40)}` : 'by an unknown actor';
}

/** The notice for an audit event, or null when the event is not one the owner is told about. */
export function noticeFor(e: AuditEvent): Notice | null {
  const account = cleanText(e.username, 255);
  if (!account) return null;
  const d = e.detail;
  const by = byWhom(str(d, 'actor'));
  if (e.type === 'totp.enable' && e.outcome === 'ok') {
    return d?.replaced === true
      ? {
          subject: 'Two-factor authentication was moved to a new authenticator app',
          text: `The authenticator app for ${account} was replaced ${by}. Codes from the previous app no longer work.`,
        }
      : {
          subject: 'Two-factor authentication was turned on',
          text: `Two-factor authentication (an authenticator app) was turned on for ${account} ${by}. From now on mail apps sign in with app passcodes instead of the main password.`,
        };
  }
  if (e.type === 'totp.disable' && e.outcome === 'ok') {
    return {
      subject: 'Two-factor authentication was turned off',
      text: `Two-factor authentication was turned off for ${account} ${by}. The authenticator app and the emergency codes no longer work.`,
    };
  }
  if (e.type === 'totp.reset' && e.outcome === 'ok' && d?.removed !== false) {
    return {
      subject: 'Your authenticator app was reset by an administrator',
      text: `The authenticator app and emergency codes of ${account} were removed ${by}. Sign in to the portal with your main password and turn two-factor authentication on again. Mail apps keep working with their passcodes.`,
    };
  }
  if (e.type === 'passcode.create' && e.outcome === 'ok') {
    const scopes = Array.isArray(d?.scopes) ? d.scopes.map((s) => SCOPE_WORDS[String(s)] ?? cleanText(s, 20)).join(', ') : 'unknown';
    const expires = typeof d?.expiresAt === 'number' ? ` It expires ${isoTime(d.expiresAt)}.` : '';
    return {
      subject: 'A new app passcode was created',
      text: `An app passcode named "${cleanText(str(d, 'name'), 100)}" was created for ${account} ${by}. It can be used for: ${scopes}.${expires}`,
    };
  }
  if (e.type === 'rollout.notice' && e.outcome === 'ok') {
    const from = typeof d?.from === 'number' ? `From ${dayOf(d.from)}` : 'Soon';
    return {
      subject: 'Your mail apps will need an app passcode',
      text: `${from} the mail apps of ${account} need an app passcode to sign in: your main password will no longer work in them.`,
    };
  }
  if (e.type === 'passcode.unused-expiring' && typeof d?.unusedExpiresAt === 'number') {
    return {
      subject: 'An app passcode you have not used will expire in a week',
      text: `The app passcode named "${cleanText(str(d, 'name'), 100)}" of ${account} has not been used for a long time and stops working ${isoTime(d.unusedExpiresAt)}. Any login with it before then keeps it working.`,
      reminder: true,
    };
  }
  if (e.type === '2fa.verify' && e.outcome === 'accept' && d?.method === 'emergency') {
    const left = typeof d.codesLeft === 'number' ? d.codesLeft : null;
    const leftText = left === null ? '' : ` ${left} emergency code${left === 1 ? ' is' : 's are'} left.`;
    return {
      subject: 'An emergency code was used to sign in',
      text: `A one-time emergency code was used to sign in to the portal as ${account}.${leftText}`,
    };
  }
  return null;
}

/** UTC, second precision: "2026-01-15T09:30:00Z". */
function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 5322 date-time in UTC ("Thu, 15 Jan 2026 09:30:00 +0000"). */
function rfc5322Date(ms: number): string {
  return new Date(ms).toUTCString().replace(/GMT$/, '+0000');
}

/** The account's domain when it is a plain host name, else localhost (never header syntax). */
function mailDomain(account: string): string {
  const d = domainOf(account);
  return /^[\p{L}\p{N}](?:[\p{L}\p{N}.-]{0,250}[\p{L}\p{N}])?$/u.test(d) ? d : 'localhost';
}

/** The date part of a time, as the server's clock reads it ("2027-01-15"). */
function dayOf(ms: number): string {
  const t = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/** The rollout notice: which apps still use the main password, and where to make passcodes. */
function rolloutBody(e: AuditEvent, n: Notice, s: NotifySettings): string[] {
  const clients = Array.isArray(e.detail?.clients) ? e.detail.clients.slice(0, 20).map((c) => `- ${cleanText(c, 200)}`) : [];
  return [
    n.text,
    '',
    'These apps still use your main password:',
    ...(clients.length ? clients : ['- (none named)']),
    '',
    s.portalUrl
      ? `Create an app passcode for each of them at ${cleanText(s.portalUrl, 300)} and enter it in the app instead of your main password.`
      : 'Create an app passcode for each of them in the mail security portal and enter it in the app instead of your main password.',
    '',
    '-- ',
    'This notice was sent automatically by mailgate, which protects your mail account.',
  ];
}
const SIGNATURE = 'This notice was sent automatically by mailgate, which protects your mail account.';

function bodyOf(e: AuditEvent, n: Notice, s: NotifySettings): string {
  if (e.type === 'rollout.notice') return rolloutBody(e, n, s).join('\r\n');
  const client = str(e.detail, 'client');
  const portal = s.portalUrl ? `at ${cleanText(s.portalUrl, 300)}` : 'to the mail security portal';
  if (n.reminder) {
    const tail = ['If you no longer use that app, there is nothing to do.', `To see or revoke your app passcodes, sign in ${portal}.`];
    return [n.text, '', ...tail, '', '-- ', SIGNATURE].join('\r\n');
  }
  const lines = [
    n.text,
    '',
    `When:   ${isoTime(e.ts)} (UTC)`,
    ...(e.ip ? [`From:   IP address ${cleanText(e.ip, 64)}`] : []),
    ...(client ? [`Client: ${cleanText(client, 200)}`] : []),
    '',
    'If this was you, there is nothing to do.',
    '',
    'If it was not you, someone may know your main password:',
    s.portalUrl
      ? `- sign in at ${cleanText(s.portalUrl, 300)} and check your authenticator app and app passcodes;`
      : '- sign in to the mail security portal and check your authenticator app and app passcodes;',
    '- revoke every app passcode you do not recognise;',
    '- change your main password;',
    '- tell your mail administrator.',
    '',
    '-- ',
    SIGNATURE,
  ];
  return lines.join('\r\n');
}

/**
 * The complete message (CRLF line ends) for `event`, or null if the owner is not told about it.
 * Subjects are fixed ASCII; anything from the event goes into the UTF-8 body only, cleaned.
 */
export function buildNotification(e: AuditEvent, s: NotifySettings): { account: string; subject: string; message: string } | null {
  const n = noticeFor(e);
  if (!n || !e.username) return null;
  const account = cleanText(e.username, 255);
  const domain = mailDomain(account);
  const from = s.from ? cleanText(s.from, 300) : `mailgate <postmaster@${domain}>`;
  const subject = `[mailgate] ${n.subject}`;
  const headers = [
    `From: ${from}`,
    `To: <${account.replace(/[<>\s]/g, '')}>`,
    `Date: ${rfc5322Date(e.ts)}`,
    `Message-ID: <notice-${e.id ?? 0}-${e.ts.toString(36)}@${domain}>`,
    `Subject: ${subject}`,
    'Auto-Submitted: auto-generated',
    `X-Mailgate-Event: ${cleanText(e.type, 40)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  // Delivered to the account key as stored (what the upstream login uses), not the cleaned text.
  return { account: e.username, subject, message: `${headers.join('\r\n')}\r\n\r\n${bodyOf(e, n, s)}\r\n` };
}
