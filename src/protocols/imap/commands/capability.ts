import type { CommandHandler } from '../types.js';

/** CAPABILITY: what we announce depends on TLS state (STARTTLS, LOGINDISABLED, AUTH=). */
export const capability: CommandHandler = async (s, cmd) => {
  if (cmd.args.length) return s.bad(cmd.tag, 'CAPABILITY takes no arguments.', false);
  s.send(`* CAPABILITY ${s.capabilities().join(' ')}`);
  s.send(`${cmd.tag} OK Capability completed.`);
  return 'continue';
};
