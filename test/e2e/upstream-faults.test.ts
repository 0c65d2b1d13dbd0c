/**
 * What the client sees when the upstream misbehaves — refuses, never greets, presents a
 * certificate we cannot verify, hangs up during the master login, dies mid-session — and that
 * nothing leaks afterwards. Faults are injected with small TCP servers where Dovecot cannot be
 * made to misbehave on cue; those cases need no Dovecot at all (a gate only needs certificates and
 * a master user name for its config), the two that do run against Dovecot. The happy paths are
 * proven against Dovecot in imap.test.ts.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { makeCerts } from '../../src/demo/certs.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describe } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate, type ImapTestUpstream, type Overrides } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';

/** A fake upstream: `script` decides what to do with each connection. */
async function fakeUpstream(script: (s: Socket) => void): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    script(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { port: (server.address() as { port: number }).port, server, sockets };
}

const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length;

/** Logs in through a gate with `overrides`; returns the tagged answer, the gate's log, and whether sockets leaked. */
async function loginThrough(
  upstream: ImapTestUpstream,
  overrides: Overrides,
): Promise<{ answer: string; logs: string; leaked: number; gate: Gate }> {
  const gate = await startGate(upstream, overrides);
  const p = await gate.server.core.manager.createPasscode(ALICE, { name: 'x', scopes: ['imap'] });
  const before = sockets();
  const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
  await raw.until(/^\* OK/);
  const answer = (await raw.cmd('a1', `LOGIN ${ALICE} "${p.formatted}"`, 15_000)).at(-1)!;
  raw.close();
  await new Promise((r) => setTimeout(r, 100));
  const leaked = sockets() - before;
  await gate.close();
  return { answer, logs: gate.logs(), leaked, gate };
}

/** What a gate in front of a fake upstream needs: certificates and a master user for its config. */
async function fakeTarget(port: number): Promise<ImapTestUpstream> {
  const certs = await makeCerts(mkdtempSync(join(tmpdir(), 'mailgate-fake-upstream-')));
  return { imapPort: port, certs, master: { user: 'mailgate', password: 'fake-master-password' }, users: [] };
}

describe('IMAP upstream faults (fake upstreams, no Dovecot)', () => {
  it('upstream never greets: NO [UNAVAILABLE] after the connect timeout', async () => {
    const fake = await fakeUpstream(() => {});
    const r = await loginThrough(await fakeTarget(fake.port), {
      imap: { upstream: { port: fake.port, tls: 'none', connect_timeout: '500ms' } },
    });
    expect(r.answer).toMatch(/^a1 NO \[UNAVAILABLE\]/);
    expect(r.logs).toMatch(/"level":50.*"stage":"protocol".*upstream unavailable/);
    expect(r.leaked).toBeLessThanOrEqual(0);
    expect(fake.sockets.size).toBe(0); // mailgate closed its side
    fake.server.close();
  });

  it('upstream hangs up during the master login: NO [UNAVAILABLE], no leak', async () => {
    const fake = await fakeUpstream((s) => {
      s.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] fake ready\r\n');
      s.on('data', (d) => {
        if (/AUTHENTICATE/.test(String(d))) s.destroy();
        else if (/^(\S+) ID/.test(String(d))) s.write(`${/^(\S+)/.exec(String(d))![1]} OK ID\r\n`);
      });
    });
    const r = await loginThrough(await fakeTarget(fake.port), { imap: { upstream: { port: fake.port, tls: 'none' } } });
    expect(r.answer).toMatch(/^a1 NO \[UNAVAILABLE\]/);
    expect(r.logs).toMatch(/upstream closed the connection/);
    expect(r.leaked).toBeLessThanOrEqual(0);
    fake.server.close();
  });

  it('an upstream without SASL-IR gets the master login after its "+" challenge', async () => {
    const seen: string[] = [];
    const fake = await fakeUpstream((s) => {
      s.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ID] fake ready\r\n');
      let pending: string | null = null;
      s.on('data', (d) => {
        for (const line of String(d).split('\r\n').filter(Boolean)) {
          seen.push(line);
          if (pending) {
            s.write(`${pending} OK [CAPABILITY IMAP4rev1] Logged in\r\n`);
            pending = null;
            continue;
          }
          const [tag, cmd] = line.split(' ');
          if (cmd === 'AUTHENTICATE') {
            pending = tag!;
            s.write('+ \r\n');
          } else s.write(`${tag} OK done\r\n`);
        }
      });
    });
    const r = await loginThrough(await fakeTarget(fake.port), { imap: { upstream: { port: fake.port, tls: 'none' } } });
    expect(r.answer).toBe('a1 OK [CAPABILITY IMAP4rev1] Logged in');
    const auth = seen.findIndex((l) => / AUTHENTICATE PLAIN$/.test(l));
    expect(auth).toBeGreaterThanOrEqual(0);
    expect(
      Buffer.from(seen[auth + 1]!, 'base64')
        .toString()
        .split('\u0000')
        .slice(0, 2),
    ).toEqual([ALICE, 'mailgate']);
    fake.server.close();
  });

  it('upstream dies mid-session: the client connection is closed and the session unregistered', async () => {
    // (Stopping Dovecot does not reliably end its post-login imap processes, so the death is scripted.)
    const fake = await fakeUpstream((s) => {
      s.write('* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN ID] fake ready\r\n');
      s.on('data', (d) => {
        // One answer per line: mailgate pipelines ID and AUTHENTICATE in one write.
        for (const line of String(d).split('\r\n').filter(Boolean)) {
          const [tag, cmd] = line.split(' ');
          if (cmd === 'SELECT') {
            s.write('* 3 EXISTS\r\n* FLAGS (\\Seen');
            s.destroy();
          } else s.write(`${tag} OK done\r\n`);
        }
      });
    });
    const gate = await startGate(await fakeTarget(fake.port), { imap: { upstream: { port: fake.port, tls: 'none' } } });
    try {
      const p = await gate.server.core.manager.createPasscode(ALICE, { name: 'x', scopes: ['imap'] });
      const before = sockets();
      const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await raw.until(/^\* OK/);
      expect((await raw.cmd('a1', `LOGIN ${ALICE} "${p.formatted}"`)).at(-1)).toMatch(/^a1 OK/);
      expect(gate.server.core.sessions.size).toBe(1);
      raw.send('a2 SELECT INBOX\r\n');
      expect(await raw.closedWithin(3000)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(gate.server.core.sessions.size).toBe(0);
      expect(sockets() - before).toBeLessThanOrEqual(0);
    } finally {
      await gate.close();
      fake.server.close();
    }
  });
});

describeInterop('IMAP upstream faults (Dovecot)', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  beforeAll(async () => {
    dovecot = await startDovecot();
  }, 30_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('upstream certificate not signed by the configured CA: NO [UNAVAILABLE] and a TLS error for the admin', async () => {
    const other = await makeCerts(mkdtempSync(join(tmpdir(), 'mailgate-otherca-')));
    const r = await loginThrough(dovecot, { imap: { upstream: { ca: other.caCert } } });
    expect(r.answer).toMatch(/^a1 NO \[UNAVAILABLE\]/);
    expect(r.logs).toMatch(/"stage":"tls".*TLS with the upstream failed/);
    expect(r.leaked).toBeLessThanOrEqual(0);
  });

  it('master password wrong: NO [UNAVAILABLE] and an actionable error line', async () => {
    const r = await loginThrough(dovecot, { imap: { upstream: { auth: { password: 'not-the-master-password' } } } });
    expect(r.answer).toMatch(/^a1 NO \[UNAVAILABLE\]/);
    expect(r.logs).toMatch(/"level":50.*upstream refused the master login: check imap.upstream.auth/);
    expect(r.logs).not.toContain('not-the-master-password');
  }, 20_000);
});
