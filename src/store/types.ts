/**
 * The storage contract. Every backend (sqlite today, postgres later) implements this and passes
 * the contract suite in `contract.ts`. Methods are async so that a networked backend fits.
 * Usernames passed here are already normalised account keys (see core/accounts.ts).
 * Times are milliseconds since the epoch.
 */

/** Protocols a passcode can be scoped to. */
export type Protocol = 'imap' | 'smtp' | 'pop3';
export const PROTOCOLS: readonly Protocol[] = ['imap', 'smtp', 'pop3'];

/** Who set an enforcement override: an admin (CLI, API) or the user turning 2FA on in the portal. */
export type OverrideOwner = 'admin' | 'portal';

export interface AccountRow {
  username: string;
  /** Override: true = enforced, false = never enforced, null = follow policy. */
  enforced: boolean | null;
  /** Who owns the override (null when there is none). Only an admin can undo an admin's. */
  enforcedBy: OverrideOwner | null;
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
  /** Where it may log in from (CIDR list); null or absent: anywhere. */
  allowedNetworks?: string[] | null;
  /** When its owner was last told it will expire for want of use (passcodes.expire_unused). */
  unusedWarnedAt?: number | null;
}

/** allowed_networks as both backends store it: comma-separated CIDRs; NULL (or an empty list) is anywhere. */
export const encodeNetworks = (n: readonly string[] | null | undefined): string | null => (n?.length ? n.join(',') : null);
export const decodeNetworks = (t: string | null): string[] | null => (t ? t.split(',') : null);

/** What updatePasscode may change; absent keys stay as they are. */
export interface PasscodeChanges {
  name?: string;
  allowedNetworks?: string[] | null;
  expiresAt?: number;
  unusedWarnedAt?: number;
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

/** A passcode's last use (recordPasscodeUse's arguments). */
export interface PasscodeUse {
  id: string;
  at: number;
  ip: string | null;
  client: string | null;
}

export interface WriteBatch {
  audit: AuditEvent[];
  passcodeUses: PasscodeUse[];
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
  /**
   * The oldest N instead of the newest N (still oldest first): a follower reading with afterId
   * then never skips events when more than N arrived since its last read.
   */
  oldestFirst?: boolean;
}

/** An account's authenticator-app (TOTP) state. Secrets are ciphertexts: the store never sees them in clear. */
export interface TotpRow {
  username: string;
  /** Encrypted secret in force, null while only an enrolment is pending. */
  secret: string | null;
  enabledAt: number | null;
  /** Highest time step accepted so far: a code for this step or an earlier one is a replay. */
  lastStep: number | null;
  /** Encrypted secret being enrolled (shown as a QR code, not yet confirmed with a code). */
  pendingSecret: string | null;
  pendingAt: number | null;
}

/** One of an account's one-time emergency codes. */
export interface EmergencyCodeRow {
  username: string;
  /** 1..n within the current set. */
  id: number;
  /** Keyed lookup tag, as for passcodes: one bcrypt per attempt, not one per code. */
  tag: string;
  /** bcrypt hash of the normalised code. */
  hash: string;
  createdAt: number;
  usedAt: number | null;
}

/** The account's one-time enrolment code (first_enrolment: code), issued by an admin. */
export interface EnrolCodeRow {
  username: string;
  /** Keyed lookup tag of the normalised code, as for passcodes. */
  tag: string;
  /** bcrypt hash of the normalised code. */
  hash: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** A signed-in (or half signed-in) portal browser session, kept server-side. */
export interface PortalSessionRow {
  /** A hash of the cookie value, never the value itself. */
  id: string;
  username: string;
  /** 'password': main password checked, second factor still due; 'complete': fully signed in. */
  stage: 'password' | 'complete';
  /** Synchronizer token every form of this session must echo. */
  csrf: string;
  ip: string | null;
  createdAt: number;
  lastSeenAt: number;
}

/**
 * A main-password login that the rollout policy would refuse once enforced ("would break"), one
 * row per account, protocol, client name and address (core/observe.ts).
 */
export interface ObservationRow {
  username: string;
  protocol: Protocol;
  /** IMAP ID name/version or EHLO name; null when the client gave none (POP3). */
  client: string | null;
  ip: string;
  firstSeen: number;
  lastSeen: number;
  count: number;
}

export interface Store {
  getAccount(username: string): Promise<AccountRow | undefined>;
  /** Accounts that have an override or at least one passcode, sorted by username. */
  listAccounts(): Promise<AccountRow[]>;
  /**
   * Sets (true/false) or clears (null) the override, owned by `by`; creates the account row if
   * needed. A 'portal' write never replaces or clears an admin's override: it is then skipped,
   * atomically, and false is returned. True when the row was written.
   */
  setEnforcement(username: string, enforced: boolean | null, at: number, by: OverrideOwner): Promise<boolean>;

  /** Creates the account row if needed. Throws if (username, tag) or id already exists. */
  insertPasscode(row: PasscodeRow): Promise<void>;
  findPasscodeByTag(username: string, tag: string): Promise<PasscodeRow | undefined>;
  getPasscode(id: string): Promise<PasscodeRow | undefined>;
  /** All passcodes of the user (revoked too), oldest first. */
  listPasscodes(username: string): Promise<PasscodeRow[]>;
  /** Sets revokedAt if not yet revoked; returns false if no such passcode for that user or already revoked. */
  revokePasscode(username: string, id: string, at: number): Promise<boolean>;
  /** Replaces the scopes of an unrevoked passcode; false if no such passcode for that user or it is revoked. */
  setPasscodeScopes(username: string, id: string, scopes: readonly Protocol[]): Promise<boolean>;
  recordPasscodeUse(id: string, at: number, ip: string | null, client: string | null): Promise<void>;
  /** Applies `changes` to an unrevoked passcode; false if no such passcode for that user or it is revoked. */
  updatePasscode(username: string, id: string, changes: PasscodeChanges): Promise<boolean>;
  /**
   * Unrevoked, unexpired (at `now`) passcodes whose last use — or creation, if never used — is
   * before `before`, least recently used first, at most `limit` (passcodes.expire_unused).
   */
  unusedPasscodes(before: number, now: number, limit: number): Promise<PasscodeRow[]>;
  /** Passcodes revoked at or after `since` (used to end live sessions revoked by another process). */
  revokedSince(since: number): Promise<Array<{ id: string; username: string; revokedAt: number }>>;

  getTotp(username: string): Promise<TotpRow | undefined>;
  /** Stores (replacing any earlier one) the secret being enrolled; an enabled secret stays in force. */
  setPendingTotp(username: string, secret: string, at: number): Promise<void>;
  /**
   * Puts the pending secret in force, if it still is `pendingSecret` (two tabs enrolling at once:
   * only the secret the user confirmed wins). Records `step` as used. False if it changed.
   */
  activateTotp(username: string, pendingSecret: string, at: number, step: number): Promise<boolean>;
  /** Atomically records `step` as used if it is later than every step used before (replay guard). */
  useTotpStep(username: string, step: number): Promise<boolean>;
  /** Removes the secret (and any pending one); false if there was nothing. */
  deleteTotp(username: string): Promise<boolean>;

  /** Replaces the whole set at once (an empty list deletes it); ids are 1..n in list order. */
  replaceEmergencyCodes(username: string, codes: Array<{ tag: string; hash: string }>, at: number): Promise<void>;
  /** The current set, id order, used ones included. */
  listEmergencyCodes(username: string): Promise<EmergencyCodeRow[]>;
  /** Marks a code used if it is still unused; false if it was used already (or does not exist). */
  useEmergencyCode(username: string, id: number, at: number): Promise<boolean>;

  /** Stores the account's enrolment code, replacing any earlier one (used or not). */
  setEnrolCode(row: Omit<EnrolCodeRow, 'usedAt'>): Promise<void>;
  getEnrolCode(username: string): Promise<EnrolCodeRow | undefined>;
  /**
   * Marks the code with `tag` used if it is unused and unexpired at `at` (compare-and-set: two
   * requests racing with one code cannot both pass); false otherwise.
   */
  useEnrolCode(username: string, tag: string, at: number): Promise<boolean>;

  createPortalSession(row: PortalSessionRow): Promise<void>;
  getPortalSession(id: string): Promise<PortalSessionRow | undefined>;
  touchPortalSession(id: string, at: number): Promise<void>;
  deletePortalSession(id: string): Promise<void>;
  /** Ends every portal session of an account (e.g. after its authenticator was reset); returns how many. */
  deletePortalSessionsOf(username: string): Promise<number>;
  /** Deletes sessions idle since before `idleBefore` or created before `createdBefore`. */
  prunePortalSessions(idleBefore: number, createdBefore: number): Promise<number>;

  /** Counts one would-break login: inserts the row (count 1) or adds 1 and moves lastSeen. */
  recordObservation(o: { username: string; protocol: Protocol; client: string | null; ip: string; at: number }): Promise<void>;
  /** One account's observations, or every account's; by username, then most recently seen first. */
  listObservations(username?: string): Promise<ObservationRow[]>;
  /**
   * Marks the account's rollout notice sent, if it was not yet (compare-and-set: two instances
   * recording the same account's first observation send one notice); true when this call marked it.
   */
  markRolloutNotice(username: string, at: number): Promise<boolean>;

  appendAudit(event: AuditEvent): Promise<number>;
  /**
   * The login path's writes of one tick (store/write-batch.ts) in one transaction: the audit
   * events in order (their ids returned in the same order) and the passcodes' last use.
   */
  writeBatch(batch: WriteBatch): Promise<number[]>;
  queryAudit(query: AuditQuery): Promise<AuditEvent[]>;
  /**
   * Retention (audit.retention): deletes the events with ts < before, in one transaction, and
   * returns how many. The only way an audit event ever leaves the log: it is append-only otherwise.
   */
  pruneAudit(before: number): Promise<number>;

  close(): Promise<void>;
  /**
   * A number that changes whenever another connection — another process — commits (SQLite's
   * `PRAGMA data_version`; store/row-cache.ts). Absent where the backend cannot tell cheaply.
   */
  changeVersion?(): number;
}
