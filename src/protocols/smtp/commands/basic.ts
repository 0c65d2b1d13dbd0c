import { R } from '../replies.js';
import { reply, type SmtpCommand } from '../types.js';

/** NOOP and RSET: nothing to do before login (no transaction can have started). */
export const noop: SmtpCommand = async () => reply(R.ok);

export const quit: SmtpCommand = async () => ({ reply: R.bye, next: 'close' });

export const help: SmtpCommand = async () => reply(R.help);

/** MAIL, RCPT, DATA, BDAT … before AUTH: this is a submission service (RFC 4954 §6). */
export const needsAuth: SmtpCommand = async () => reply(R.authRequired);
