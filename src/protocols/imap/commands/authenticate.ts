import { R } from '../responses.js';
import type { CommandHandler, SessionApi } from '../types.js';

/**
 * AUTHENTICATE PLAIN (RFC 4616) and LOGIN, with or without an initial response (SASL-IR,
 * RFC 4959; "=" is an empty one). A "*" line cancels (RFC 9051 §6.2.2).
 */
export const authenticate: CommandHandler = async (s, cmd) => {
  const mech = cmd.args[0]?.kind === 'atom' ? cmd.args[0].value.toUpperCase() : '';
  const irArg = cmd.args[1];
  if (cmd.args.length > 2 || (irArg && irArg.kind !== 'atom')) return s.bad(cmd.tag, 'Invalid AUTHENTICATE arguments.', false);
  if (mech !== 'PLAIN' && mech !== 'LOGIN') {
    s.send(`${cmd.tag} NO Unsupported authentication mechanism.`);
    return 'continue';
  }
  if (!s.plaintextAllowed) {
    s.send(`${cmd.tag} ${R.privacyRequired}`);
    return 'continue';
  }
  const ir = irArg?.kind === 'atom' ? irArg.value : null;

  const ask = async (prompt: string): Promise<Buffer | 'cancel' | 'bad' | 'closed'> => {
    s.send(`+ ${prompt}`);
    const line = await s.readContinuation();
    if (line === null) return 'closed';
    return line === '*' ? 'cancel' : decode(line);
  };

  let user: string;
  let secret: string;
  if (mech === 'PLAIN') {
    const data = ir !== null ? decode(ir) : await ask('');
    if (typeof data === 'string') return finish(s, cmd.tag, data);
    const parts = data.toString('utf8').split('\u0000');
    if (parts.length !== 3) return s.bad(cmd.tag, 'Invalid PLAIN response.', false);
    const [authzid = '', authcid = '', password = ''] = parts;
    // A client asking to act as someone else needs its own master rights; we never grant that.
    if (authzid !== '' && authzid !== authcid) return s.refuse(cmd.tag);
    user = authcid;
    secret = password;
  } else {
    const u = ir !== null ? decode(ir) : await ask(Buffer.from('Username:').toString('base64'));
    if (typeof u === 'string') return finish(s, cmd.tag, u);
    const p = await ask(Buffer.from('Password:').toString('base64'));
    if (typeof p === 'string') return finish(s, cmd.tag, p);
    user = u.toString('utf8');
    secret = p.toString('utf8');
  }
  return s.login(cmd.tag, user, secret);
};

function decode(b64: string): Buffer | 'bad' {
  if (b64 === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'bad';
  return Buffer.from(b64, 'base64');
}

async function finish(s: SessionApi, tag: string, why: 'cancel' | 'bad' | 'closed'): Promise<'continue' | 'close'> {
  if (why === 'closed') return 'close';
  if (why === 'cancel') {
    s.send(`${tag} BAD Authentication cancelled.`);
    return 'continue';
  }
  return (await s.bad(tag, 'Invalid base64 data.', false)) === 'close' ? 'close' : 'continue';
}
