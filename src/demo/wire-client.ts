/**
 * Just enough IMAP and LMTP client for a testbed to provision its own server (create mailboxes,
 * deliver messages) without depending on mailgate's own protocol code under test.
 */
import net from 'node:net';

/** Reads CRLF lines from a socket; `next(re)` resolves with the lines up to the first matching one. */
function lineReader(sock: net.Socket, timeoutMs: number): (re: RegExp) => Promise<string[]> {
  let buf = '';
  const waiters: Array<() => void> = [];
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => {
    buf += d;
    for (const w of waiters.splice(0)) w();
  });
  sock.on('close', () => {
    for (const w of waiters.splice(0)) w();
  });
  return (re) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`testbed client: no ${String(re)} within ${timeoutMs} ms`)), timeoutMs);
      const check = (): void => {
        const lines = buf.split('\r\n');
        const i = lines.slice(0, -1).findIndex((l) => re.test(l));
        if (i >= 0) {
          buf = lines.slice(i + 1).join('\r\n');
          clearTimeout(timer);
          resolve(lines.slice(0, i + 1));
        } else if (sock.destroyed) {
          clearTimeout(timer);
          reject(new Error(`testbed client: connection closed waiting for ${String(re)}`));
        } else waiters.push(check);
      };
      check();
    });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => resolve(sock));
    sock.once('error', reject);
  });
}

/** One IMAP connection; `cmd` sends a tagged command and throws unless it ends in OK. */
export async function imapSession(port: number, fn: (cmd: (text: string) => Promise<string[]>) => Promise<void>): Promise<void> {
  const sock = await connect(port);
  const next = lineReader(sock, 10_000);
  let n = 0;
  try {
    await next(/^\* OK/);
    await fn(async (text) => {
      const tag = `tb${++n}`;
      sock.write(`${tag} ${text}\r\n`);
      const lines = await next(new RegExp(`^${tag} `));
      // Only the command verb in the error: LOGIN carries a password.
      if (!/^\S+ OK/.test(lines.at(-1) ?? '')) throw new Error(`testbed IMAP ${text.split(' ')[0]} failed: ${lines.at(-1)}`);
      return lines;
    });
    sock.write(`tb${++n} LOGOUT\r\n`);
  } finally {
    sock.destroy();
  }
}

/** Delivers one message to `rcpt` over LMTP (RFC 2033), dot-stuffed; throws on any refusal. */
export async function lmtpDeliver(port: number, rcpt: string, raw: string | Buffer): Promise<void> {
  const sock = await connect(port);
  const next = lineReader(sock, 10_000);
  const reply = async (expect: RegExp, what: string): Promise<void> => {
    const last = (await next(/^\d{3} /)).at(-1) ?? '';
    if (!expect.test(last)) throw new Error(`testbed LMTP ${what}: ${last}`);
  };
  try {
    await reply(/^220 /, 'greeting');
    sock.write('LHLO testbed\r\n');
    await reply(/^250 /, 'LHLO');
    sock.write('MAIL FROM:<testbed@localhost>\r\n');
    await reply(/^250 /, 'MAIL FROM');
    sock.write(`RCPT TO:<${rcpt}>\r\n`);
    await reply(/^250 /, 'RCPT TO');
    sock.write('DATA\r\n');
    await reply(/^354 /, 'DATA');
    const text = (typeof raw === 'string' ? raw : raw.toString('latin1')).replace(/\r?\n/g, '\r\n').replace(/\r\n$/, '');
    sock.write(`${text.replace(/^\./gm, '..')}\r\n.\r\n`, 'latin1');
    await reply(/^250 /, 'delivery'); // one reply per recipient
    sock.write('QUIT\r\n');
  } finally {
    sock.destroy();
  }
}
