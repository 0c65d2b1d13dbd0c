/**
 * What an idle spliced IMAP session keeps (issue 12: 20,000 idle TLS sessions within 40 KB each).
 * Once handed off, the pre-login objects — the ImapSession, its LineConn and line reader, the
 * upstream's ImapUpstream wrapper — must be collectable: a session idles for hours, and each of
 * them held a few KB. Counted with v8.queryObjects (a full GC, then objects by prototype) in this
 * process, where the gate runs; the splice's own per-session objects (RingReads, CompressWatch)
 * are counted the same way, so the method is seen to find live objects. Then the sessions still
 * work, and revoking their passcode still ends every one of them.
 */
import { queryObjects } from 'node:v8';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { LineConn } from '../../src/protocols/front/conn.js';
import { CompressWatch } from '../../src/protocols/imap/compress-watch.js';
import { ImapSession } from '../../src/protocols/imap/session.js';
import { ImapUpstream } from '../../src/protocols/imap/upstream.js';
import { LineReader } from '../../src/protocols/imap/wire.js';
import { RingReads } from '../../src/net/reads.js';
import { startGate, type Gate } from '../support/gate.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';

const ALICE = 'alice@example.com';
/** Per listener (clear and implicit TLS). */
const SESSIONS = 10;

const count = (ctor: Parameters<typeof queryObjects>[0]): number => queryObjects(ctor, { format: 'count' });
const counts = () => ({
  ImapSession: count(ImapSession),
  LineConn: count(LineConn),
  LineReader: count(LineReader),
  ImapUpstream: count(ImapUpstream),
  RingReads: count(RingReads),
  CompressWatch: count(CompressWatch),
});

describeInterop('an idle spliced session keeps none of its login objects', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ user: ALICE, password: 'alice-main-pw' }] });
    // A plain upstream, as in the bench's idle phase: its reads go through the ring (net/reads.ts).
    gate = await startGate(dovecot, { imap: { upstream: { host: '127.0.0.1', tls: 'none', ca: null, port: dovecot.imapPort } } });
  }, 60_000);

  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('idling in IDLE, the sessions hold no ImapSession, LineConn, line reader or ImapUpstream; revoking still ends them', async () => {
    const { manager, sessions, store } = gate.server.core;
    const p = await manager.createPasscode(ALICE, { name: 'idle', scopes: ['imap'] });
    const before = counts();
    const clients: RawClient[] = [];
    for (const tls of [false, true])
      for (let i = 0; i < SESSIONS; i++) {
        const c = await RawClient.connect(tls ? gate.imapsPort : gate.imapPort, tls ? { tls: true, ca: gate.ca } : {});
        await c.until(/^\* OK/);
        if (!tls) {
          expect((await c.cmd('s', 'STARTTLS')).at(-1)).toMatch(/^s OK/);
          await c.starttls(gate.ca);
        }
        expect((await c.cmd('a', `LOGIN ${ALICE} "${p.formatted}"`)).at(-1)).toMatch(/^a OK/);
        expect((await c.cmd('b', 'SELECT INBOX')).at(-1)).toMatch(/^b OK/);
        c.send('c IDLE\r\n');
        await c.until(/^\+ /);
        clients.push(c);
      }
    expect(sessions.list({ passcodeId: p.info.id })).toHaveLength(2 * SESSIONS);
    const idle = counts();
    // The splice's own objects: one each per session, so the count sees live sessions…
    expect(idle.RingReads - before.RingReads).toBe(2 * SESSIONS);
    expect(idle.CompressWatch - before.CompressWatch).toBe(2 * SESSIONS);
    // … and none of the login's (before: whatever the gate keeps anyway, e.g. its upstream probe).
    expect(idle.ImapSession).toBe(before.ImapSession);
    expect(idle.LineConn).toBe(before.LineConn);
    expect(idle.LineReader).toBe(before.LineReader);
    expect(idle.ImapUpstream).toBe(before.ImapUpstream);

    // Still spliced: every session answers DONE through the upstream.
    for (const c of clients) {
      c.send('DONE\r\n');
      expect((await c.until(/^c /)).at(-1)).toMatch(/^c OK/);
    }
    // And still endable: revoking the passcode ends all of them, each with the [ALERT] line.
    await store.revokePasscode(ALICE, p.info.id, Date.now());
    for (const c of clients) {
      await c.until(/^\* BYE \[ALERT\] This app passcode was revoked\./, 3000);
      expect(await c.closedWithin(3000)).toBe(true);
    }
    expect(sessions.list({ passcodeId: p.info.id })).toHaveLength(0);
  }, 60_000);
});
