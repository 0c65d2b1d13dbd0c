/** The typed, frozen configuration every part of mailgate receives (never a global). */
import type { IdentityConfig } from '../core/identity.js';

export type TlsMode = 'none' | 'starttls' | 'implicit';

export interface ListenConfig {
  host: string;
  port: number;
  /** starttls: clear until STARTTLS; implicit: TLS from the first byte; none: never TLS (tests, behind a TLS terminator). */
  tls: TlsMode;
}

/** How mailgate logs in to the upstream on a user's behalf after it accepted a passcode. */
export type UpstreamAuth =
  | { method: 'sasl-proxy'; user: string; password: string } // AUTHENTICATE/AUTH PLAIN authzid=user authcid=master
  | { method: 'separator'; user: string; password: string; separator: string } // LOGIN "user*master" masterpw
  | { method: 'xclient' }; // Postfix XCLIENT LOGIN=user (SMTP only)

export interface UpstreamConfig {
  host: string;
  port: number;
  tls: TlsMode;
  /** PEM CA bundle (contents) used to verify the upstream's certificate; default: the system CAs. */
  ca: string | null;
  /** TLS server name to verify; default: host. */
  servername: string | null;
  rejectUnauthorized: boolean;
  /**
   * The upstream trusts mailgate's address (Dovecot login_trusted_networks, Postfix
   * smtpd_authorized_xclient_hosts): forward the real client IP so the upstream's own auth
   * penalties land on the client, not on mailgate.
   */
  trusted: boolean;
  auth: UpstreamAuth;
  connectTimeoutMs: number;
}

export interface ProtocolConfig {
  listen: ListenConfig[];
  upstream: UpstreamConfig;
}

export interface PolicyConfig {
  /** 'all', or a list of domains (example.com) and addresses (alice@example.org). */
  enforce: 'all' | readonly string[];
  /** Networks (CIDR) whose logins are never enforced, e.g. the webmail host. */
  exemptNetworks: readonly string[];
  /** Allow LOGIN/AUTH on a connection without TLS. Off by default. */
  allowPlaintextAuth: boolean;
}

export interface AuthTuning {
  bcryptCost: number;
  hashWorkers: number;
  /** Lifetime of the verified-credential cache entries (reconnect storms of mail apps). */
  cacheTtlMs: number;
  /** Delay before a failed login is answered (Dovecot's auth_failure_delay is 2 s); doubles per further failure. */
  failureDelayMs: number;
  /** Random extra delay (uniform 0..this) on every failure answer, so answer times do not tell failure reasons apart. */
  failureJitterMs: number;
  throttle: {
    maxDelayMs: number;
    /** Failures from one source (IPv4 address, IPv6 /64) within windowMs before it is blocked. */
    blockAfter: number;
    blockForMs: number;
    windowMs: number;
    /** Failures on one account from unknown sources within windowMs before new sources are refused. */
    accountCeiling: number;
  };
}

export interface Limits {
  /** A connection that says nothing before login for this long is closed. */
  idleTimeoutMs: number;
  /** Invalid commands tolerated before login, then the connection is closed. */
  maxBadCommands: number;
  maxLineBytes: number;
  maxLiteralBytes: number;
  /** Commands of any kind before login (NOOP loops must not hold a slot forever). */
  maxPreLoginCommands: number;
  /** Connections still in the pre-login phase from one address. */
  maxPreLoginPerIp: number;
  /** All connections of one listener, logged in or not. */
  maxConnections: number;
  /** On SIGTERM, how long live sessions may go on before they are closed. */
  shutdownGraceMs: number;
}

/** A PostgreSQL store shared by several mailgate instances. */
export interface PostgresConfig {
  /** Connection URL (a secret: it usually carries the password). */
  url: string;
  poolSize: number;
  /** Server-side statement_timeout, also the wait for a pooled connection. */
  statementTimeoutMs: number;
}

export interface Config {
  /** Absolute path of the file this was loaded from (relative paths in it resolve against its folder). */
  file: string | null;
  /** Exactly one backend: sqlite (a file path, the embedded default) or postgres. */
  store: { sqlite: string | null; postgres: PostgresConfig | null };
  audit: {
    /** Events older than this are deleted (by the serving process, hourly); null: kept forever. */
    retentionMs: number | null;
  };
  secretFile: string;
  tls: { cert: string; key: string } | null;
  imap: ProtocolConfig | null;
  smtp: (ProtocolConfig & { hostname: string }) | null;
  /** POP3 (RFC 1939), same shape as imap: listen + upstream with a master login. */
  pop3: ProtocolConfig | null;
  /** How typed names become the one canonical account name (core/identity.ts). */
  identity: IdentityConfig;
  policy: PolicyConfig;
  auth: AuthTuning;
  limits: Limits;
  log: { level: string };
  portal: {
    listen: { host: string; port: number };
    publicUrl: string | null;
    /** Reverse proxies (CIDR) whose X-Forwarded-For names the real client; empty: the header is ignored. */
    trustedProxies: readonly string[];
    /** 'code': turning 2FA on without an authenticator in force needs an admin's enrolment code. */
    firstEnrolment: 'open' | 'code';
  } | null;
  admin: { token: string | null };
  /** Prometheus /metrics, /healthz, /readyz on their own listener (internal network); null: off. */
  metrics: { listen: { host: string; port: number } } | null;
  /** Security notices (2FA on/off/reset, new passcode, emergency code used) APPENDed to the owner's INBOX. */
  notify: { enabled: boolean; from: string | null };
}
