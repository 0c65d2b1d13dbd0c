import { R } from '../replies.js';
import { reply, type SmtpCommand } from '../types.js';

/** EHLO (RFC 5321 §4.1.1.1): our name, then the upstream's extensions that work through mailgate. */
export const ehlo: SmtpCommand = async (s, args) => {
  const name = args.trim();
  if (!name) return reply(R.heloSyntax);
  s.helo = name;
  return reply({ code: 250, lines: [s.hostname, ...s.keywords()] });
};

/** HELO: no extensions; AUTH still works after it (RFC 4954 asks for EHLO, clients may not). */
export const helo: SmtpCommand = async (s, args) => {
  const name = args.trim();
  if (!name) return reply({ ...R.heloSyntax, lines: ['Syntax: HELO hostname'] });
  s.helo = name;
  return reply({ code: 250, lines: [s.hostname] });
};
