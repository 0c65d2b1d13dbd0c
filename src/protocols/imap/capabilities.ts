/**
 * What mailgate announces before login: the upstream's own capability list, in its own order (so
 * clients see the server they expect — Dovecot's imaptest compares it), with only what mailgate
 * decides replaced: authentication mechanisms and TLS. Capabilities mailgate implements itself
 * before login (SASL-IR, ID, LITERAL+) are kept where the upstream lists them, added otherwise.
 */

/** Decided by mailgate's front alone, never copied from the upstream. */
const OWNED = /^(AUTH=.*|STARTTLS|LOGINDISABLED)$/i;
/** Implemented by mailgate's pre-login front; announced even when the upstream lacks them. */
const IMPLEMENTED = ['SASL-IR', 'ID', 'LITERAL+'];

export interface CapabilityState {
  /** The connection is TLS (implicit, or after STARTTLS). */
  secure: boolean;
  /** The listener offers STARTTLS (and it has not happened yet). */
  starttlsAvailable: boolean;
  allowPlaintextAuth: boolean;
}

export function preLoginCapabilities(upstream: readonly string[], s: CapabilityState): readonly string[] {
  // Worked out once per upstream list and state: every connection's greeting needs it, and the list
  // only changes when the upstream's does (UpstreamInfo.learn keeps the same array while it is equal).
  const key = (s.secure ? 1 : 0) | (s.starttlsAvailable ? 2 : 0) | (s.allowPlaintextAuth ? 4 : 0);
  let byState = memo.get(upstream);
  if (!byState) {
    byState = new Map();
    memo.set(upstream, byState);
  }
  let caps = byState.get(key);
  if (!caps) {
    caps = Object.freeze(compute(upstream, s));
    byState.set(key, caps);
  }
  return caps;
}

const memo = new WeakMap<readonly string[], Map<number, readonly string[]>>();

function compute(upstream: readonly string[], s: CapabilityState): string[] {
  const ours = [
    ...(s.starttlsAvailable && !s.secure ? ['STARTTLS'] : []),
    ...(s.secure || s.allowPlaintextAuth ? ['AUTH=PLAIN', 'AUTH=LOGIN'] : ['LOGINDISABLED']),
  ];
  const caps: string[] = [];
  let placed = false;
  for (const c of upstream) {
    if (!OWNED.test(c)) {
      caps.push(c);
      continue;
    }
    // Ours go where the upstream announced its own (Dovecot: at the end, after LITERAL+).
    if (!placed) {
      caps.push(...ours);
      placed = true;
    }
  }
  if (!caps.some((c) => /^IMAP4rev1$/i.test(c))) caps.unshift('IMAP4rev1');
  const has = (x: string) => caps.some((c) => c.toUpperCase() === x || (x === 'LITERAL+' && /^LITERAL-$/i.test(c)));
  const missing = IMPLEMENTED.filter((x) => !has(x));
  if (placed) caps.splice(caps.indexOf(ours[0]!), 0, ...missing);
  else caps.push(...missing, ...ours);
  return caps;
}
