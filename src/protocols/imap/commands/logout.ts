import type { CommandHandler } from './index.js';

export const logout: CommandHandler = async (s, cmd) => {
  s.send('* BYE Logging out');
  s.send(`${cmd.tag} OK Logout completed.`);
  return 'close';
};
