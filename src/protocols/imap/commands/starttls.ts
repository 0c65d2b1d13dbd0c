import type { CommandHandler } from '../types.js';

/** STARTTLS (RFC 9051 §6.2.1); the session discards anything pipelined after it in clear. */
export const starttls: CommandHandler = async (s, cmd) => {
  if (cmd.args.length) return s.bad(cmd.tag, 'STARTTLS takes no arguments.', false);
  return s.startTls(cmd.tag);
};
