/**
 * What mailgate announces before login: the upstream's own capabilities (so clients see the
 * server they expect), minus what only mailgate decides (authentication, TLS, literals), plus
 * what mailgate itself implements in the pre-login state.
 */

/** Capabilities owned by mailgate's pre-login front, never copied from the upstream. */
const OURS = /^(AUTH=.*|STARTTLS|LOGINDISABLED|SASL-IR|LITERAL[+-]|ID|LOGIN-REFERRALS)$/i;

export interface CapabilityState {
  /** The connection is TLS (implicit, or after STARTTLS). */
  secure: boolean;
  /** The listener offers STARTTLS (and it has not happened yet). */
  starttlsAvailable: boolean;
  allowPlaintextAuth: boolean;
}

export function preLoginCapabilities(upstream: readonly string[], s: CapabilityState): string[] {
  const caps = upstream.filter((c) => !OURS.test(c));
  if (!caps.some((c) => /^IMAP4rev1$/i.test(c))) caps.unshift('IMAP4rev1');
  caps.push('SASL-IR', 'ID', 'LITERAL+');
  if (s.starttlsAvailable && !s.secure) caps.push('STARTTLS');
  if (s.secure || s.allowPlaintextAuth) caps.push('AUTH=PLAIN', 'AUTH=LOGIN');
  else caps.push('LOGINDISABLED');
  return caps;
}
