/**
 * The storage contract. Every backend (sqlite today, postgres later) implements this and passes
 * the contract suite in `contract.ts`. Methods are async so that a networked backend fits.
 * Usernames passed here are already normalised account keys (see core/accounts.ts).
 * Times are milliseconds since the epoch.
 */

/** Protocols a passcode can be scoped to. */
export type Protocol = 'imap' | 'smtp' | 'pop3';
export const PROTOCOLS: readonly Protocol[] = ['imap', 'smtp', 'pop3'];

export interface AccountRow {
  username: string;
  /** Admin override: true = enforced, false = never enforced, null = follow policy. */
  enforced: boolean | null;
  createdAt: number;
  updatedAt: number;
}

export interface PasscodeRow {
  id: string;
  username: string;
  name: string;
  scopes: Protocol[];
  /** Keyed lookup tag (HMAC of the normalised passcode, truncated); unique per username. */
  tag: string;
  /** bcrypt hash of the normalised passcode. */
  hash: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  lastUsedClient: string | null;
}

export interface AuditEvent {
  id?: number;
  ts: number;
  /** e.g. 'auth', 'passcode.create', 'passcode.revoke', 'account.enforce', 'upstream.error' */
  type: string;
  username: string | null;
  protocol: string | null;
  ip: string | null;
  passcodeId: string | null;
  /** e.g. 'accept', 'passthrough', 'reject', 'ok', 'error' */
  outcome: string;
  reason: string | null;
  sessionId: string | null;
  /** Free-form, JSON-serialisable, never a secret. */
  detail: Record<string, unknown> | null;
}

export interface AuditQuery {
  username?: string;
  type?: string;
  /** Only events with id > afterId (for --follow). */
  afterId?: number;
  /** Only events with ts >= since. */
  since?: number;
  /** Newest N (default 100), returned oldest first. */
  limit?: number;
}

export interface Store {
  getAccount(username: string): Promise<AccountRow | undefined>;
  /** Accounts that have an override or at least one passcode, sorted by username. */
  listAccounts(): Promise<AccountRow[]>;
  /** Creates the account row if needed. */
  setEnforcement(username: string, enforced: boolean | null, at: number): Promise<void>;

  /** Creates the account row if needed. Throws if (username, tag) or id already exists. */
  insertPasscode(row: PasscodeRow): Promise<void>;
  findPasscodeByTag(username: string, tag: string): Promise<PasscodeRow | undefined>;
  getPasscode(id: string): Promise<PasscodeRow | undefined>;
  /** All passcodes of the user (revoked too), oldest first. */
  listPasscodes(username: string): Promise<PasscodeRow[]>;
  /** Sets revokedAt if not yet revoked; returns false if no such passcode for that user or already revoked. */
  revokePasscode(username: string, id: string, at: number): Promise<boolean>;
  recordPasscodeUse(id: string, at: number, ip: string | null, client: string | null): Promise<void>;
  /** Passcodes revoked at or after `since` (used to end live sessions revoked by another process). */
  revokedSince(since: number): Promise<Array<{ id: string; username: string; revokedAt: number }>>;

  appendAudit(event: AuditEvent): Promise<number>;
  queryAudit(query: AuditQuery): Promise<AuditEvent[]>;

  close(): Promise<void>;
}
