import { astring } from '../wire.js';
import type { CommandHandler } from '../types.js';

/**
 * ID (RFC 2971): remember the client's name/version (shown as "last used by" and forwarded to the
 * upstream), answer with the upstream's own ID so the client sees the real server.
 */
export const id: CommandHandler = async (s, cmd) => {
  const arg = cmd.args[0];
  if (cmd.args.length !== 1 || !arg || (arg.kind !== 'list' && arg.kind !== 'nil'))
    return s.bad(cmd.tag, 'ID expects a parameter list or NIL.', false);
  if (arg.kind === 'list') {
    if (arg.items.length % 2 !== 0 || arg.items.length > 60) return s.bad(cmd.tag, 'Invalid ID parameter list.', false);
    const fields: Array<[string, string]> = [];
    for (let i = 0; i < arg.items.length; i += 2) {
      const k = astring(arg.items[i]);
      const v = astring(arg.items[i + 1]);
      if (k !== null && v !== null) fields.push([k.slice(0, 30), v.slice(0, 1024).replace(/[\u0000-\u001f\u007f]/g, '')]);
    }
    s.setClientId(fields);
  }
  s.send(s.idResponse());
  s.send(`${cmd.tag} OK ID completed.`);
  return 'continue';
};
