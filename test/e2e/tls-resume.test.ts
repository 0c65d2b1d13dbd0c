/**
 * TLS sessions resume across instances and ports: two `mailgate serve` processes with one server
 * secret (two instances behind a balancer, or one restarted) take each other's session tickets, and
 * a session from the implicit-TLS port resumes after STARTTLS on the other port. A resumed session
 * skips the certificate signature and a round trip: what a mail app reconnecting all day does. Before
 * the keys came from the secret, each process had random ones (node:cluster workers share theirs,
 * separate processes do not) and STARTTLS's context had no session-id context of the listener's.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { spawnServe, type ServeProcess } from '../support/serve-process.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

interface Visit {
  reused: boolean;
  session: Buffer | undefined;
}

describeInterop('TLS session resumption across instances and ports', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  const serves: ServeProcess[] = [];
  const ports: Array<{ implicit: number; starttls: number }> = [];
  let ca: Buffer;

  const start = async (configFile: string) => {
    const serve = spawnServe(configFile);
    serves.push(serve);
    const implicit = Number((await serve.waitFor(/"port":(\d+),"tls":"implicit","msg":"IMAP listening"/, 20_000))[1]);
    const starttls = Number((await serve.waitFor(/"port":(\d+),"tls":"starttls","msg":"IMAP listening"/, 20_000))[1]);
    ports.push({ implicit, starttls });
  };

  /** TLS over `socket` (or a new connection to `port`); resolves once the server's first line came. */
  const handshake = (opts: { port?: number; socket?: Socket; session?: Buffer }) =>
    new Promise<Visit>((resolve, reject) => {
      let ticket: Buffer | undefined;
      let reused = false;
      const bye = () => {
        if (!c.writableEnded) c.end('z LOGOUT\r\n');
      };
      const c = tlsConnect(
        { host: '127.0.0.1', port: opts.port, socket: opts.socket, ca, servername: 'localhost', session: opts.session },
        () => {
          reused = c.isSessionReused();
          if (opts.socket) bye(); // after STARTTLS the server says nothing first
        },
      );
      c.on('session', (t: Buffer) => {
        ticket = t;
      });
      c.on('error', reject);
      c.on('data', bye);
      c.on('close', () => resolve({ reused, session: ticket }));
    });

  /** Plain connection, greeting, STARTTLS, then the TLS handshake offering `session`. */
  const viaStarttls = async (port: number, session: Buffer | undefined): Promise<Visit> => {
    const raw = await RawClient.connect(port);
    await raw.until(/^\* OK/);
    expect((await raw.cmd('a', 'STARTTLS')).at(-1)).toMatch(/^a OK/);
    const plain = (raw as unknown as { socket: Socket }).socket;
    plain.removeAllListeners('data');
    return handshake({ socket: plain, session });
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    ca = readFileSync(dovecot.certs.caCert);
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-tls-resume-'));
    const configFile = join(dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, dir, { log: { level: 'info' } })));
    await start(configFile); // instance A
    await start(configFile); // instance B: the same configuration, so the same server secret
  }, 60_000);
  afterAll(async () => {
    for (const s of serves) s.proc.kill('SIGKILL');
    await dovecot?.stop();
  });

  it('a session from one instance resumes on the other, on both ports', async () => {
    const [a, b] = ports as [{ implicit: number; starttls: number }, { implicit: number; starttls: number }];
    const first = await handshake({ port: a.implicit });
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    expect((await handshake({ port: b.implicit, session: first.session })).reused).toBe(true);
    expect((await handshake({ port: a.implicit, session: first.session })).reused).toBe(true);
    expect((await viaStarttls(b.starttls, first.session)).reused).toBe(true);
    expect((await viaStarttls(a.starttls, first.session)).reused).toBe(true);
  }, 30_000);
});
