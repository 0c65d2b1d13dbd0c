import { multiline } from '../responses.js';
import type { CommandHandler } from './types.js';

/** CAPA (RFC 2449 §5): the upstream's list as adjusted for this connection. */
export const capa: CommandHandler = async (s) => {
  s.send(multiline(s.capabilities()));
  return 'continue';
};
