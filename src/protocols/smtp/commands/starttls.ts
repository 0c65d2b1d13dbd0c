import { R } from '../replies.js';
import { reply, type SmtpCommand } from '../types.js';

/**
 * STARTTLS (RFC 3207): the session upgrades after the 220 and discards whatever the client
 * pipelined in clear (CVE-2011-0411 class); the client must say EHLO again (§4.2).
 */
export const starttls: SmtpCommand = async (s, args) => {
  if (args.trim()) return reply(R.noArguments);
  if (s.secure) return reply(R.tlsActive);
  if (!s.starttlsAvailable) return reply(R.tlsUnavailable);
  s.helo = null;
  return { reply: R.readyTls, next: 'starttls' };
};
