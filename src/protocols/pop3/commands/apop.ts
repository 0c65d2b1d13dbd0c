import { R } from '../responses.js';
import type { CommandHandler } from './types.js';

/**
 * APOP is never offered (no timestamp in our greeting): it proves knowledge of the secret without
 * sending it, and mailgate must see the passcode to check it. Answered as Dovecot does when off.
 */
export const apop: CommandHandler = (s) => s.bad(R.apopDisabled);
