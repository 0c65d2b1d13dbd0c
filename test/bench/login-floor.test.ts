/**
 * The bench's bare Node login proxy (bench/login-floor.ts) against a real Dovecot: it logs a user
 * in with the master credentials, relays a FETCH both ways, refuses what it does not parse, and
 * ends the client's connection when the upstream closes after LOGOUT.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawnLoginFloor, type LoginFloor } from '../../bench/testbed.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';

const ALICE = 'alice@example.com';
const SUBJECT = 'login floor relay check';

describeInterop('bench login floor proxy', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let floor: LoginFloor; // on('data') → write splice, the bench's
  let piped: LoginFloor; // stream.pipe splice, the alternative it was measured against

  beforeAll(async () => {
    const raw = `From: a@example.com\r\nTo: ${ALICE}\r\nSubject: ${SUBJECT}\r\n\r\nbody line\r\n`;
    dovecot = await startDovecot({ messages: [{ user: ALICE, raw }], authFailureDelaySecs: 0 });
    floor = await spawnLoginFloor(dovecot.imapPort, dovecot.master, dovecot.certs);
    piped = await spawnLoginFloor(dovecot.imapPort, dovecot.master, dovecot.certs, 'pipe');
  }, 60_000);
  afterAll(async () => {
    await floor?.stop();
    await piped?.stop();
    await dovecot?.stop();
  });

  for (const [splice, tls] of [
    ['data', false],
    ['data', true],
    ['pipe', false],
    ['pipe', true],
  ] as const) {
    it(`${splice} splice, ${tls ? 'TLS' : 'plain'}: master-user login for any password, FETCH relayed, LOGOUT closes the client`, async () => {
      const f = splice === 'data' ? floor : piped;
      const c = await RawClient.connect(tls ? f.tlsPort! : f.port, { tls, ca: dovecot.certs.caCert });
      try {
        expect((await c.until(/^\* OK/))[0]).toMatch(/^\* OK \[CAPABILITY IMAP4rev1/);
        // Not a password Dovecot knows: the floor checks nothing, the master login does the work.
        const login = await c.cmd('a1', `LOGIN "${ALICE}" "not-checked-by-the-floor"`);
        expect(login.at(-1)).toMatch(/^a1 OK \[CAPABILITY IMAP4rev1 .*\] Logged in/);
        const select = await c.cmd('a2', 'SELECT INBOX');
        expect(select).toContain('* 1 EXISTS');
        const fetch = await c.cmd('a3', 'FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]');
        expect(fetch.join('\n')).toContain(`Subject: ${SUBJECT}`);
        expect(fetch.at(-1)).toMatch(/^a3 OK/);
        const bye = await c.cmd('a4', 'LOGOUT');
        expect(bye).toContain('* BYE Logging out');
        expect(bye.at(-1)).toMatch(/^a4 OK/);
        expect(await c.closedWithin(3000)).toBe(true);
      } finally {
        c.close();
      }
    });
  }

  it('answers anything but LOGIN with BAD, a user unknown upstream with NO, and still logs in after both', async () => {
    const c = await RawClient.connect(floor.port);
    try {
      await c.until(/^\* OK/);
      expect((await c.cmd('b1', 'CAPABILITY')).at(-1)).toMatch(/^b1 BAD/);
      expect((await c.cmd('b2', 'LOGIN {5}')).at(-1)).toMatch(/^b2 BAD/);
      expect((await c.cmd('b3', 'LOGIN nobody@example.com x')).at(-1)).toMatch(/^b3 NO \[AUTHENTICATIONFAILED\]/);
      expect((await c.cmd('b4', `LOGIN ${ALICE} x`)).at(-1)).toMatch(/^b4 OK/);
      expect((await c.cmd('b5', 'NOOP')).at(-1)).toMatch(/^b5 OK/);
    } finally {
      c.close();
    }
  });

  it('refuses 5,000 pipelined lines in one write one by one, then logs in the LOGIN behind them', async () => {
    const c = await RawClient.connect(floor.port);
    try {
      await c.until(/^\* OK/);
      c.send(`${'x NOOP\r\n'.repeat(5000)}c1 LOGIN ${ALICE} x\r\n`);
      const lines = await c.until(/^c1 /);
      expect(lines.filter((l) => l.startsWith('x BAD'))).toHaveLength(5000);
      expect(lines.at(-1)).toMatch(/^c1 OK/);
    } finally {
      c.close();
    }
  });
});
