/**
 * Session tickets: with the keys from the server secret a session issued by one listener resumes on
 * another (another `serve` worker, another instance), for implicit TLS and for STARTTLS's secure
 * context alike; without them (OpenSSL's random keys per context) it does not; a new period's keys
 * end the old tickets.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, TLSSocket, type Server, type SecureContext } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts, type TestCerts } from '../demo/certs.js';
import { deriveKeys, TICKET_PERIOD_MS, ticketKeysAt } from '../core/keys.js';
import { loadServerTls, withTicketKeys, type ServerTls } from './tls.js';

let certs: TestCerts;
const servers: Array<Server | NetServer> = [];

beforeAll(async () => {
  certs = await makeCerts(mkdtempSync(join(tmpdir(), 'mailgate-tls-test-')));
});
afterAll(() => {
  for (const s of servers) s.close();
});

/** An implicit-TLS listener as front/listener.ts makes it (tls.createServer with the options). */
async function implicitServer(t: ServerTls): Promise<number> {
  const s = createServer(t.options, (sock) => sock.end('* OK\r\n'));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** A STARTTLS-style listener: the secure context on an accepted socket (front/conn.ts upgradeServer). */
async function contextServer(context: SecureContext): Promise<number> {
  const s = createNetServer((raw) => {
    const t = new TLSSocket(raw, { isServer: true, secureContext: context });
    t.on('error', () => {});
    t.on('secure', () => t.end('* OK\r\n'));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** Connects (offering `session`), reads to the end; whether the session was resumed, and the new one. */
function visit(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    const c = connect({ host: '127.0.0.1', port, ca: readFileSync(certs.caCert), servername: 'localhost', session });
    c.on('session', (s: Buffer) => {
      ticket = s;
    });
    c.on('error', reject);
    c.on('data', () => {});
    c.on('end', () => resolve({ reused: c.isSessionReused(), session: ticket }));
  });
}

describe('TLS session tickets', () => {
  it('a session resumes on another listener with the same keys (implicit TLS and a STARTTLS context)', async () => {
    const keys = ticketKeysAt(deriveKeys(Buffer.alloc(32, 7)).tlsTickets, Date.now());
    const a = loadServerTls(certs, keys);
    const b = loadServerTls(certs, keys); // another worker: its own contexts, the same keys
    const first = await visit(await implicitServer(a));
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    expect((await visit(await implicitServer(b), first.session)).reused).toBe(true);
    expect((await visit(await contextServer(b.context), first.session)).reused).toBe(true);
  });

  it('without shared keys (each context its own random keys) it does not', async () => {
    const first = await visit(await implicitServer(loadServerTls(certs)));
    expect((await visit(await implicitServer(loadServerTls(certs)), first.session)).reused).toBe(false);
  });

  it("the next period's keys end the old tickets", async () => {
    const root = deriveKeys(Buffer.alloc(32, 9)).tlsTickets;
    const now = Date.now();
    const t = loadServerTls(certs, ticketKeysAt(root, now));
    const first = await visit(await implicitServer(t));
    const next = withTicketKeys(t, ticketKeysAt(root, now + TICKET_PERIOD_MS));
    expect((await visit(await implicitServer(next), first.session)).reused).toBe(false);
    expect((await visit(await implicitServer(withTicketKeys(t, ticketKeysAt(root, now))), first.session)).reused).toBe(true);
  });

  it('keys: 48 bytes, the same within a period and for the same secret, different otherwise', () => {
    const root = deriveKeys(Buffer.alloc(32, 1)).tlsTickets;
    const start = Math.floor(Date.now() / TICKET_PERIOD_MS) * TICKET_PERIOD_MS;
    expect(ticketKeysAt(root, start)).toHaveLength(48);
    expect(ticketKeysAt(root, start).equals(ticketKeysAt(root, start + TICKET_PERIOD_MS - 1))).toBe(true);
    expect(ticketKeysAt(root, start).equals(ticketKeysAt(root, start + TICKET_PERIOD_MS))).toBe(false);
    expect(ticketKeysAt(root, start).equals(ticketKeysAt(deriveKeys(Buffer.alloc(32, 2)).tlsTickets, start))).toBe(false);
  });
});
