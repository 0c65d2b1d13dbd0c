import { R } from '../replies.js';
import { reply, type Answer, type SmtpCommand, type SmtpSessionApi } from '../types.js';

/**
 * AUTH PLAIN (RFC 4616) and LOGIN, with or without an initial response (RFC 4954 §4; "=" is an
 * empty one); a "*" line cancels. No AUTH before TLS unless plaintext is allowed (538, §6).
 */
export const auth: SmtpCommand = async (s, args) => {
  if (s.helo === null) return reply(R.sayHelloFirst);
  const [mechArg = '', ir = null, extra] = args.trim().split(/ +/);
  if (!mechArg || extra !== undefined) return reply(R.badAuthSyntax);
  const mech = mechArg.toUpperCase();
  if (mech !== 'PLAIN' && mech !== 'LOGIN') return reply(R.unknownMechanism);
  if (!s.plaintextAllowed) return reply(R.encryptionRequired);

  if (mech === 'PLAIN') {
    const data = ir !== null ? decode(ir) : await ask(s, '');
    if (typeof data === 'string') return stop(data);
    const parts = data.toString('utf8').split('\u0000');
    if (parts.length !== 3) return reply(R.badBase64);
    const [authzid = '', authcid = '', password = ''] = parts;
    // A client asking to act as someone else needs its own master rights; we never grant that.
    if (authzid !== '' && authzid !== authcid) return s.refuse();
    return s.login(authcid, password);
  }
  const u = ir !== null ? decode(ir) : await ask(s, Buffer.from('Username:').toString('base64'));
  if (typeof u === 'string') return stop(u);
  const p = await ask(s, Buffer.from('Password:').toString('base64'));
  if (typeof p === 'string') return stop(p);
  return s.login(u.toString('utf8'), p.toString('utf8'));
};

type Failure = 'cancel' | 'bad' | 'closed';

async function ask(s: SmtpSessionApi, challenge: string): Promise<Buffer | Failure> {
  const line = await s.ask(challenge);
  if (line === null) return 'closed';
  return line.trim() === '*' ? 'cancel' : decode(line.trim());
}

function decode(b64: string): Buffer | 'bad' {
  if (b64 === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return 'bad';
  return Buffer.from(b64, 'base64');
}

function stop(why: Failure): Answer {
  if (why === 'closed') return { reply: null, next: 'close' };
  return reply(why === 'cancel' ? R.authAborted : R.badBase64);
}
