/**
 * The portal's password check over a scripted IMAP server on a loopback port: which upstream
 * answers are a verdict (true/false) and which are "cannot tell" (UpstreamError with its stage).
 * The real thing against Dovecot: test/e2e/portal-imap.test.ts.
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../config/types.js';
import { UpstreamError } from '../net/upstream.js';
import { createImapLogin } from './imap-login.js';

let server: Server | null = null;
afterEach(
  () =>
    new Promise<void>((r) => {
      if (server) server.close(() => r());
      else r();
      server = null;
    }),
);

/** An IMAP server that answers the login with `answer`; records the client's lines. */
async function fakeImap(
  answer: string,
  greeting = '* OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN SASL-IR] ready',
): Promise<{ cfg: UpstreamConfig; lines: string[] }> {
  const lines: string[] = [];
  server = createServer((sock) => {
    sock.write(`${greeting}\r\n`);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        lines.push(line);
        const [tag, cmd] = line.split(' ');
        if (cmd === 'ID') sock.write(`* ID NIL\r\n${tag} OK ID done\r\n`);
        else if (cmd === 'AUTHENTICATE') sock.write(`${tag} ${answer}\r\n`);
        else if (cmd === 'LOGOUT') sock.end(`* BYE\r\n${tag} OK bye\r\n`);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server!.address() as AddressInfo).port;
  return {
    lines,
    cfg: {
      host: '127.0.0.1',
      port,
      tls: 'none',
      ca: null,
      servername: null,
      rejectUnauthorized: true,
      trusted: true,
      auth: { method: 'xclient' },
      connectTimeoutMs: 1_000,
    },
  };
}

describe('portal password check (ImapUpstream)', () => {
  it('true on OK, with the client address sent in ID first (trusted upstream); the password is sent once, in the login', async () => {
    const { cfg, lines } = await fakeImap('OK [CAPABILITY IMAP4rev1] logged in');
    expect(await createImapLogin(cfg)('alice@example.com', 'pw', '192.0.2.10')).toBe(true);
    expect(lines[0]).toBe('mg1 ID ("name" "mailgate portal" "x-originating-ip" "192.0.2.10")');
    expect(lines[1]).toBe(`mg2 AUTHENTICATE PLAIN ${Buffer.from('\u0000alice@example.com\u0000pw').toString('base64')}`);
  });

  it('false on a refusal of the credentials; no ID to an untrusted upstream', async () => {
    const { cfg, lines } = await fakeImap('NO [AUTHENTICATIONFAILED] Authentication failed.');
    expect(await createImapLogin({ ...cfg, trusted: false })('alice@example.com', 'wrong', '192.0.2.10')).toBe(false);
    expect(lines[0]).toMatch(/^mg1 AUTHENTICATE PLAIN /);
  });

  it('cannot tell on NO [UNAVAILABLE], a BAD, a bad greeting or a closed port: UpstreamError with its stage', async () => {
    const unavailable = await fakeImap('NO [UNAVAILABLE] auth backend down');
    await expect(createImapLogin(unavailable.cfg)('alice@example.com', 'pw')).rejects.toMatchObject({ stage: 'login' });
    server!.close();
    server = null;
    const bad = await fakeImap('BAD what');
    await expect(createImapLogin(bad.cfg)('alice@example.com', 'pw')).rejects.toBeInstanceOf(UpstreamError);
    server!.close();
    server = null;
    const notImap = await fakeImap('', '220 smtp.example.com ESMTP');
    await expect(createImapLogin(notImap.cfg)('alice@example.com', 'pw')).rejects.toMatchObject({ stage: 'greeting' });
    const port = notImap.cfg.port;
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    await expect(createImapLogin({ ...notImap.cfg, port })('alice@example.com', 'pw')).rejects.toMatchObject({ stage: 'connect' });
  });
});
