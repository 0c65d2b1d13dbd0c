/**
 * Types shared by the front skeleton and every protocol on it (IMAP, SMTP, POP3). They live
 * here, apart from the code, so a protocol's command files, its session and the skeleton never
 * import each other in a circle.
 */
import type { Socket } from 'node:net';
import type { Decision, Protocol, RefusalHint } from '../../core/types.js';

/** What a session does after a command: read the next one, hang up, or it was handed off. */
export type Next = 'continue' | 'close' | 'handoff';

/** A decision that lets the login go on upstream. */
export type Accepted = Exclude<Decision, { kind: 'reject' }>;

/**
 * Who logs in upstream: as `account` through the configured master/XCLIENT login (a passcode was
 * accepted), or with the user's own password (passthrough). `account` is always the canonical
 * name from the core (core/identity.ts), never the name as typed.
 */
export type UpstreamCredentials = { kind: 'master'; account: string } | { kind: 'user'; account: string; password: string };

/** What the upstream adapter may forward about the client (logs, penalties, Received headers). */
export interface ClientInfo {
  sessionId: string;
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
}

/**
 * The upstream login's outcome in mailgate's terms, whatever the protocol: `refused` the
 * credentials (for a master login: the admin's problem), `unknown-account` the master login
 * worked but the user does not exist there, `unavailable` the upstream could not be used.
 * `detail` is for the log only and never holds a secret.
 */
export type UpstreamLogin<T> =
  | { kind: 'ok'; session: T }
  /** `server`: the upstream's family (dovecot, cyrus …) where known, for the admin's log line. */
  | { kind: 'refused'; detail: string; server?: string }
  | { kind: 'unknown-account'; detail: string }
  | { kind: 'unavailable'; stage: string; detail: string };

/** One protocol's way to log in upstream (imap/adapter.ts, smtp/adapter.ts, pop3/adapter.ts). */
export interface UpstreamAdapter<T> {
  readonly protocol: Protocol;
  /** For log lines: host:port of the upstream. */
  readonly upstreamLabel: string;
  login(creds: UpstreamCredentials, client: ClientInfo): Promise<UpstreamLogin<T>>;
  /** The logged-in upstream's socket and the bytes it sent that were not consumed, for the splice. */
  detach(session: T): { socket: Socket; rest: Buffer };
  close(session: T): void;
}

/** The login flow's answer; the protocol turns it into its own reply (one place per protocol). */
export type LoginStatus<T> =
  | { kind: 'ok'; session: T; decision: Accepted }
  /** hint: set only when the admin allows hints (auth.refusal_hint) and the core gave one. */
  | { kind: 'failed'; hint?: RefusalHint }
  | { kind: 'unavailable' };

/**
 * auth.refusal_hint as the fronts see it: null = off (every failure is the one plain line);
 * otherwise the portal address the hint names (null: the hint names "your account's security page").
 */
export type RefusalHintSettings = { url: string | null } | null;

/**
 * Why mailgate ends a spliced session, for the protocol's goodbye line: the passcode was revoked or
 * expired, the policy changed (account now enforced, scope removed), shutdown, or the upstream left.
 */
export type EndReason = 'revoked' | 'expired' | 'policy' | 'shutdown' | 'upstream-lost';
