import type { CommandHandler } from '../types.js';

export const logout: CommandHandler = async (s, cmd) => {
  s.send('* BYE Logging out');
  s.send(`${cmd.tag} OK Logout completed.`);
  return 'close';
};
