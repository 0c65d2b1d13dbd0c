/**
 * What a POP3 client sees before login: the upstream's CAPA list (RFC 2449) in its own order,
 * with only what mailgate must change: STLS where mailgate offers it, USER and SASL only where
 * plaintext authentication is allowed, SASL reduced to the mechanisms mailgate speaks, and the
 * upstream's private extensions (XCLIENT) removed. IMPLEMENTATION and the rest are kept.
 */

/** The mechanisms mailgate accepts from clients (it needs the secret itself: no APOP, no CRAM). */
export const MECHANISMS = ['PLAIN', 'LOGIN'] as const;

export interface CapaContext {
  /** Plaintext authentication allowed on this connection (TLS, or the admin allowed it). */
  plaintextAllowed: boolean;
  starttlsAvailable: boolean;
}

const OURS = /^(STLS|USER|SASL|XCLIENT)\b/i;

/** The CAPA lines to send (without "+OK" and "."). */
export function preLoginCapabilities(upstream: readonly string[], ctx: CapaContext): string[] {
  const mine: Record<string, string | null> = {
    STLS: ctx.starttlsAvailable ? 'STLS' : null,
    USER: ctx.plaintextAllowed ? 'USER' : null,
    // Offering no mechanism at all is said by leaving SASL out (RFC 2449 §6.3 needs one or more).
    SASL: ctx.plaintextAllowed ? `SASL ${MECHANISMS.join(' ')}` : null,
  };
  const out: string[] = [];
  for (const line of upstream) {
    const m = OURS.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    const key = m[1]!.toUpperCase();
    const v = mine[key];
    if (v) out.push(v);
    mine[key] = null; // placed where the upstream had it, once
  }
  for (const v of Object.values(mine)) if (v) out.push(v);
  return out;
}

/**
 * The greeting text to show the client: the upstream's, without its response code (`[XCLIENT]`
 * is for mailgate only) and without an APOP timestamp (RFC 1939 §7: mailgate never offers APOP,
 * it needs the secret itself).
 */
export function greetingText(upstreamGreeting: string): string {
  return upstreamGreeting
    .replace(/^\+OK\s*/i, '')
    .replace(/^\[[^\]]*\]\s*/, '')
    .replace(/\s*<[^<>\s]*@[^<>\s]*>\s*$/, '')
    .trim();
}
