import type { CommandHandler } from '../types.js';

export const noop: CommandHandler = async (s, cmd) => {
  s.send(`${cmd.tag} OK NOOP completed.`);
  return 'continue';
};
