/** What the portal is built from, and what its request handlers share. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NetworkSet } from '../core/enforcement.js';
import type { Guard } from '../core/guard-port.js';
import type { Identity } from '../core/identity.js';
import type { ServerKeys } from '../core/keys.js';
import type { Manager } from '../core/manage.js';
import type { EnforcePolicy } from '../core/rollout.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { TwoFactor } from '../core/twofactor.js';
import type { Clock, Hasher, RandomBytes } from '../core/types.js';
import type { Config, TlsMode } from '../config/types.js';
import type { Logger } from '../runtime/logger.js';
import type { PortalSessionRow, Store } from '../store/types.js';
import type { PreSessionCsrf } from './csrf.js';
import type { InFlight } from './inflight.js';
import type { OnceForms } from './once.js';
import type { PortalSessions, SessionTimeouts } from './sessions.js';

type PortalConfig = NonNullable<Config['portal']>;
type PortalConfigCore = Pick<PortalConfig, 'listen' | 'publicUrl' | 'trustedProxies' | 'firstEnrolment'>;

/** Checks a user's main password by logging in to the upstream IMAP server. Throws if it cannot tell. */
export type ImapLogin = (user: string, password: string, clientIp?: string) => Promise<boolean>;

export interface MailEndpoint {
  port: number;
  tls: TlsMode;
}

/** What mail apps connect to, for the setup instructions next to a new passcode. */
export interface MailSettings {
  /** Server name users type into their mail app; default: public_url's host, else the Host the browser used. */
  host: string | null;
  /** The same for sending (portal.public_smtp_host); default: `host`. */
  smtpHost?: string | null;
  imap: MailEndpoint[];
  smtp: MailEndpoint[];
}

export interface PortalDeps {
  store: Store;
  manager: Manager;
  /** The mail fronts' account naming: portal sessions, 2FA and the password check use the same account. */
  identity: Identity;
  hasher: Hasher;
  keys: ServerKeys;
  clock: Clock;
  /** Live IMAP/SMTP sessions: counts per passcode, and revocation ends them. */
  sessions: SessionRegistry;
  /** The portal's config section; the newer, optional keys take their defaults when absent. */
  portal: PortalConfigCore & Partial<Pick<PortalConfig, 'brand'>>;
  admin: Config['admin'];
  policy: EnforcePolicy;
  mail: MailSettings;
  imapLogin: ImapLogin;
  log: Logger;
  /** Serve HTTPS with this certificate (session cookies then get Secure). Default: plain HTTP. */
  tls?: { cert: Buffer | string; key: Buffer | string } | null;
  /** Shown in authenticator apps. Default: public_url's host, else "mailgate". */
  issuer?: string;
  random?: RandomBytes;
  timeouts?: Partial<SessionTimeouts>;
  /**
   * The mail fronts' brute-force guard, whose named policies (portal-password, portal-code,
   * admin-token) throttle the portal: a source blocked for guessing passwords over IMAP/SMTP is
   * blocked here too, and wrong main passwords typed here count against it there.
   * Default: a guard of the portal's own.
   */
  guard?: Guard;
}

/** The portal's shared services, built once by startPortal. */
export interface Portal {
  deps: PortalDeps;
  tf: TwoFactor;
  sessions: PortalSessions;
  pre: PreSessionCsrf;
  /** The brute-force guard: its named policies answer wrong passwords, codes and tokens with 429 and a wait. */
  guard: Guard;
  /** Password and code checks in flight: concurrent guesses are refused, not checked. */
  inFlight: InFlight;
  /** One-time form tokens and one-time display of secrets (once.ts says why). */
  once: OnceForms;
  base: string;
  secure: boolean;
  /** Reverse proxies whose X-Forwarded-For is believed (portal.trusted_proxies). */
  trustedProxies: NetworkSet;
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path below the portal's base. */
  path: string;
  query: URLSearchParams;
  /** The real client: the TCP peer, or what a trusted reverse proxy says it forwarded. */
  ip: string;
  cookies: Map<string, string>;
  /** The posted form (empty for GET). */
  form: URLSearchParams;
  session: PortalSessionRow | null;
}

/** none: anyone; pending: password checked, code due; full: signed in; any: pending or full. */
export type Access = 'none' | 'pending' | 'full' | 'any';

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  access: Access;
  run(p: Portal, c: Ctx): Promise<void>;
}
