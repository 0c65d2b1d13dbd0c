import type { CommandHandler } from './types.js';

/** STLS (RFC 2595 §4); the session discards whatever the client pipelined behind it. */
export const stls: CommandHandler = (s, cmd) => (cmd.rest !== '' ? s.bad('-ERR Invalid arguments.') : s.startTls());
