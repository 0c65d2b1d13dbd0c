/**
 * One account name per mailbox. Every part of mailgate — policy, passcodes, 2FA, portal sessions,
 * audit, the guard, the live-session registry — and the login sent to the upstream use the name
 * returned here, never the name as typed. If mailgate and the upstream disagreed on who a name is
 * (the upstream lower-cases, drops or adds a domain), a main password could be walked past
 * enforcement by typing the name another way; so a name is either made canonical or refused.
 */

const MAX_USER_BYTES = 255;
/** Names remembered by Identity.canonical (≤ 10,000 × ~320 characters: a few MB at worst). */
const MEMO_MAX = 10_000;

export interface IdentityConfig {
  /** A name without "@" means name@defaultDomain. Null: bare names stay bare (no domains in use). */
  defaultDomain: string | null;
  /** Only these domains are served; a name in any other domain is refused. Null: any domain. */
  domains: readonly string[] | null;
}

export const OPEN_IDENTITY: IdentityConfig = Object.freeze({ defaultDomain: null, domains: null });

/**
 * Characters never accepted in a name: control characters (C0, DEL, C1), any white space (no
 * mailbox has it, and upstreams trim or split on it differently), and `*`, Dovecot's usual master
 * user separator (`alice*mailgate` must never reach the upstream as a user's own login).
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\s*]/u;

export class Identity {
  private readonly domains: ReadonlySet<string> | null;
  private readonly defaultDomain: string | null;

  /** `separators`: the upstream's master-user separators in use (e.g. from `auth.separator`), also refused. */
  constructor(
    cfg: IdentityConfig = OPEN_IDENTITY,
    private readonly separators: readonly string[] = [],
  ) {
    this.defaultDomain = cfg.defaultDomain === null ? null : fold(cfg.defaultDomain);
    this.domains = cfg.domains === null ? null : new Set(cfg.domains.map(fold));
  }

  /**
   * The canonical account for a name as typed: trimmed, Unicode NFC, lower-case, with the default
   * domain added to a bare name. Null for a name this installation does not serve or that no mail
   * server should be asked about (refused with the normal failure answer, without a store lookup).
   */
  canonical(typed: string): string | null {
    // Pure in `typed` for a given configuration, and asked on every login (twice for a passthrough),
    // mostly for the same few names: remembered, within a bound. A flood of made-up names only
    // empties the memo; the answer is the same either way.
    if (typed.length > MAX_USER_BYTES + 64) return this.fresh(typed); // a long input is worked out each time, never kept
    const known = this.memo.get(typed);
    if (known !== undefined) return known;
    const answer = this.fresh(typed);
    if (this.memo.size >= MEMO_MAX) this.memo.clear();
    this.memo.set(typed, answer);
    return answer;
  }

  private readonly memo = new Map<string, string | null>();

  private fresh(typed: string): string | null {
    const name = fold(typed);
    if (name === '' || Buffer.byteLength(name) > MAX_USER_BYTES || FORBIDDEN.test(name)) return null;
    if (this.separators.some((s) => s !== '' && name.includes(s))) return null;
    const parts = name.split('@');
    if (parts.length > 2) return null;
    const [local = '', typedDomain] = parts;
    if (local === '') return null;
    const domain = typedDomain ?? this.defaultDomain;
    if (domain === null) return this.domains === null ? local : null;
    if (!validDomain(domain)) return null;
    if (this.domains !== null && !this.domains.has(domain)) return null;
    return `${local}@${domain}`;
  }
}

/** Trim, NFC, lower-case, NFC again (lower-casing can leave a decomposed sequence behind). */
function fold(s: string): string {
  return s.trim().normalize('NFC').toLowerCase().normalize('NFC');
}

/** Not empty, no empty label ("example..com", a trailing dot: the upstream may read them as another name). */
function validDomain(d: string): boolean {
  return d !== '' && d.split('.').every((label) => label !== '');
}

/** The domain part of a canonical account ('' when there is none). */
export function domainOf(account: string): string {
  const at = account.lastIndexOf('@');
  return at < 0 ? '' : account.slice(at + 1);
}

/** The Identity of a configuration: its `identity` keys, and the master separator the IMAP upstream uses. */
export function identityFor(config: {
  identity: IdentityConfig;
  imap: { upstream: { auth: { method: string; separator?: string } } } | null;
}): Identity {
  const auth = config.imap?.upstream.auth;
  return new Identity(config.identity, auth?.method === 'separator' && auth.separator ? [auth.separator] : []);
}
