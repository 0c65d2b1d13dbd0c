import { R } from '../responses.js';
import type { CommandHandler } from './types.js';

/** QUIT before login: say goodbye, flush, close (RFC 1939 §5). */
export const quit: CommandHandler = (s) => s.quit(R.logout);
