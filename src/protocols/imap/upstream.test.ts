/**
 * The upstream login's pipelining over a scripted IMAP server on a loopback port: with SASL-IR the
 * client-info ID and the AUTHENTICATE go in one write (one TCP segment, one round trip); without
 * it they are sent one after the other, the response after the server's "+".
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamConfig } from '../../config/types.js';
import { ImapUpstream } from './upstream.js';

let server: Server | null = null;
afterEach(
  () =>
    new Promise<void>((r) => {
      if (server) server.close(() => r());
      else r();
      server = null;
    }),
);

const CLIENT = { remoteIp: '192.0.2.7', remotePort: 40000, localIp: '127.0.0.1', localPort: 1143, sessionId: 's1', clientId: [] };

/** An IMAP server that records each data chunk it receives (one chunk per write on loopback). */
async function fakeImap(caps: string): Promise<{ cfg: UpstreamConfig; chunks: string[] }> {
  const chunks: string[] = [];
  server = createServer((sock) => {
    sock.setNoDelay(true);
    sock.write(`* OK [CAPABILITY ${caps}] ready\r\n`);
    let buf = '';
    let saslTag: string | null = null;
    sock.on('data', (d) => {
      chunks.push(d.toString('utf8'));
      buf += d.toString('utf8');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (saslTag) {
          sock.write(`${saslTag} OK [CAPABILITY IMAP4rev1] Logged in\r\n`);
          saslTag = null;
          continue;
        }
        const [tag, cmd, mech, ir] = line.split(' ');
        if (cmd === 'ID') sock.write(`* ID ("name" "Dovecot")\r\n${tag} OK ID completed.\r\n`);
        else if (cmd === 'AUTHENTICATE' && mech === 'PLAIN' && ir) sock.write(`${tag} OK [CAPABILITY IMAP4rev1] Logged in\r\n`);
        else if (cmd === 'AUTHENTICATE') {
          saslTag = tag!;
          sock.write('+ \r\n');
        } else sock.write(`${tag} BAD unexpected\r\n`);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const port = (server!.address() as AddressInfo).port;
  const cfg: UpstreamConfig = {
    host: '127.0.0.1',
    port,
    tls: 'none',
    ca: null,
    servername: null,
    rejectUnauthorized: true,
    trusted: true,
    auth: { method: 'sasl-proxy', user: 'master', password: 'master-pw' },
    connectTimeoutMs: 1_000,
  } as UpstreamConfig;
  return { cfg, chunks };
}

describe('ImapUpstream login pipelining', () => {
  it('SASL-IR: ID and AUTHENTICATE PLAIN arrive in one chunk, the ID first; the login answer and the ID line are both read', async () => {
    const { cfg, chunks } = await fakeImap('IMAP4rev1 ID SASL-IR AUTH=PLAIN');
    const up = await ImapUpstream.open(cfg);
    const r = await up.login({ kind: 'master', user: 'alice@example.com' }, up.clientInfoCommand(CLIENT));
    up.close();
    expect(r.status).toBe('OK');
    expect(up.idLine).toBe('* ID ("name" "Dovecot")');
    expect(chunks).toHaveLength(1);
    const lines = chunks[0]!.split('\r\n');
    expect(lines[0]).toMatch(/^mg1 ID \(.*"x-originating-ip" "192\.0\.2\.7"/);
    expect(lines[1]).toBe(`mg2 AUTHENTICATE PLAIN ${Buffer.from('alice@example.com\u0000master\u0000master-pw').toString('base64')}`);
  });

  it('no SASL-IR: the ID is answered before AUTHENTICATE is sent, and the response follows the "+"', async () => {
    const { cfg, chunks } = await fakeImap('IMAP4rev1 ID AUTH=PLAIN');
    const up = await ImapUpstream.open(cfg);
    const r = await up.login({ kind: 'master', user: 'alice@example.com' }, up.clientInfoCommand(CLIENT));
    up.close();
    expect(r.status).toBe('OK');
    expect(chunks.map((c) => c.split(' ')[1]?.trim())).toEqual(['ID', 'AUTHENTICATE', undefined]);
    expect(chunks[2]).toBe(`${Buffer.from('alice@example.com\u0000master\u0000master-pw').toString('base64')}\r\n`);
  });
});
