import { R, multiline } from '../responses.js';
import type { CommandHandler, Next, SessionApi } from './types.js';

/**
 * AUTH (RFC 5034): PLAIN (RFC 4616) and LOGIN, with or without an initial response ("=" is an
 * empty one); a "*" line cancels. AUTH without a mechanism lists the mechanisms, as Dovecot and
 * the older RFC 1734 clients (Outlook) expect.
 */
export const auth: CommandHandler = async (s, cmd) => {
  const [mechArg = '', ir = null, ...extra] = cmd.rest === '' ? [] : cmd.rest.split(' ');
  if (mechArg === '') {
    s.send(multiline(s.mechanisms()));
    return 'continue';
  }
  if (extra.length > 0) return s.bad(R.invalidArguments);
  const mech = mechArg.toUpperCase();
  if (mech !== 'PLAIN' && mech !== 'LOGIN') {
    s.send(R.unsupportedMechanism);
    return 'continue';
  }
  if (!s.plaintextAllowed) {
    s.send(R.plaintextDisallowed);
    return 'continue';
  }

  const ask = async (prompt: string): Promise<Buffer | Stop> => {
    s.send(`+ ${prompt}`);
    const line = await s.readContinuation();
    if (line === null) return 'closed';
    return line === '*' ? 'cancel' : decode(line);
  };

  if (mech === 'PLAIN') {
    const data = ir !== null ? decode(ir) : await ask('');
    if (typeof data === 'string') return stop(s, data);
    const parts = data.toString('utf8').split('\u0000');
    if (parts.length !== 3) return s.bad(R.invalidPlain);
    const [authzid = '', authcid = '', password = ''] = parts;
    // A client asking to act as someone else needs its own master rights; we never grant that.
    if (authzid !== '' && authzid !== authcid) return s.refuse();
    return s.login(authcid, password);
  }
  const u = ir !== null ? decode(ir) : await ask(Buffer.from('Username:').toString('base64'));
  if (typeof u === 'string') return stop(s, u);
  const p = await ask(Buffer.from('Password:').toString('base64'));
  if (typeof p === 'string') return stop(s, p);
  return s.login(u.toString('utf8'), p.toString('utf8'));
};

type Stop = 'cancel' | 'bad' | 'closed';

function decode(b64: string): Buffer | 'bad' {
  if (b64 === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'bad';
  return Buffer.from(b64, 'base64');
}

async function stop(s: SessionApi, why: Stop): Promise<Next> {
  if (why === 'closed') return 'close';
  if (why === 'cancel') {
    s.send(R.authAborted);
    return 'continue';
  }
  return s.bad(R.invalidBase64);
}
