/**
 * Security review finding 6c: live sessions follow policy, not only revocation. Each case holds an
 * imapflow session in IDLE through mailgate against a real Dovecot, changes the policy the way an
 * admin would (the CLI runs as its own core on the same database, like another process), and
 * checks that the session ends within 1.5 s and that a new login follows the new policy.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { DEFAULT_USERS, startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const CAROL = { user: 'carol@example.com', password: 'carol-main-pw' };
const EXEMPT = '127.0.0.55';
const OVERRIDES = { policy: { enforce: ['alice@example.com'], exempt_networks: [`${EXEMPT}/32`] } };

describeInterop('live sessions follow policy', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let configFile: string;

  const cli = async (...argv: string[]) => {
    let out = '';
    const io = {
      out: (t: string) => {
        out += `${t}\n`;
      },
      err: (t: string) => {
        out += t;
      },
      env: {},
    };
    const code = await main([...argv, '--config', configFile], io);
    return { code, out };
  };
  /** An imapflow session in IDLE; `closed` resolves with the time the connection went away. */
  const idling = async (user: string, pass: string) => {
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: gate.imapsPort,
      secure: true,
      tls: { ca: readFileSync(gate.ca) },
      auth: { user, pass },
      logger: false,
    });
    c.on('error', () => {});
    const closed = new Promise<number>((res) => c.once('close', () => res(Date.now())));
    await c.connect();
    await c.mailboxOpen('INBOX');
    void c.idle().catch(() => {});
    await new Promise((r) => setTimeout(r, 100)); // IDLE is on the wire
    return { c, closed };
  };
  /** ms from `from` until the session closed, or null if it was still open after `ms` + 0.5 s. */
  const endsWithin = async (closed: Promise<number>, from: number, ms: number) => {
    const took = await Promise.race([
      closed.then((t) => t - from),
      new Promise<null>((r) => setTimeout(() => r(null), from + ms + 500 - Date.now())),
    ]);
    console.log(`6c: session ended ${took === null ? 'not at all' : `after ${took} ms`}`);
    return took;
  };
  const login = async (user: string, secret: string, from?: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const answer = (await raw.cmd('n1', `LOGIN ${user} "${secret}"`)).at(-1)!;
    return { ok: /^n1 OK/.test(answer), raw };
  };

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [...DEFAULT_USERS, CAROL] });
    gate = await startGate(dovecot, OVERRIDES);
    configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, OVERRIDES)));
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('finding 6c: a session of a passcode that expires ends at its expiry', async () => {
    const expiresAt = Date.now() + 2_000;
    const pc = await gate.server.core.manager.createPasscode('alice@example.com', { name: 'short', scopes: ['imap'], expiresAt });
    const s = await idling('alice@example.com', pc.formatted);
    const late = await endsWithin(s.closed, expiresAt, 1_500);
    expect(late).not.toBeNull();
    expect(late!).toBeLessThanOrEqual(1_500);
    expect(late!).toBeGreaterThanOrEqual(-50); // not before its time
    expect((await login('alice@example.com', pc.formatted)).ok).toBe(false);
  });

  it('finding 6c: main-password sessions end when another process enforces the account, except from exempt networks', async () => {
    const s = await idling('bob@example.com', 'bob-main-pw');
    const exempt = await login('bob@example.com', 'bob-main-pw', EXEMPT);
    expect(exempt.ok).toBe(true);
    expect((await exempt.raw.cmd('e1', 'SELECT INBOX')).at(-1)).toMatch(/^e1 OK/);
    const t0 = Date.now();
    expect((await cli('accounts', 'enforce', 'bob@example.com')).code).toBe(0);
    const took = await endsWithin(s.closed, t0, 1_500);
    expect(took).not.toBeNull();
    expect(took!).toBeLessThanOrEqual(1_500);
    expect((await exempt.raw.cmd('e2', 'NOOP')).at(-1)).toMatch(/^e2 OK/); // the webmail host's session stays
    exempt.raw.close();
    expect((await login('bob@example.com', 'bob-main-pw')).ok).toBe(false);
    expect((await login('bob@example.com', 'bob-main-pw', EXEMPT)).ok).toBe(true);
  });

  it('finding 6c: main-password sessions end when a SIGHUP reload enforces the account', async () => {
    const s = await idling(CAROL.user, CAROL.password);
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, { policy: { ...OVERRIDES.policy, enforce: ['example.com'] } })));
    const t0 = Date.now();
    await gate.server.reload(); // what the SIGHUP handler calls
    const took = await endsWithin(s.closed, t0, 1_500);
    expect(took).not.toBeNull();
    expect(took!).toBeLessThanOrEqual(1_500);
    expect((await login(CAROL.user, CAROL.password)).ok).toBe(false);
  });

  it("finding 6c: removing a protocol from a passcode's scopes ends its sessions of that protocol", async () => {
    const pc = await gate.server.core.manager.createPasscode('alice@example.com', { name: 'both', scopes: ['imap', 'smtp'] });
    const s = await idling('alice@example.com', pc.formatted);
    const t0 = Date.now();
    const r = await cli('passcodes', 'scope', 'alice@example.com', pc.info.id, '--scopes', 'smtp');
    expect(r).toMatchObject({ code: 0, out: expect.stringMatching(/now covers smtp/) });
    const took = await endsWithin(s.closed, t0, 1_500);
    expect(took).not.toBeNull();
    expect(took!).toBeLessThanOrEqual(1_500);
    expect((await login('alice@example.com', pc.formatted)).ok).toBe(false);
    const audit = await gate.server.core.store.queryAudit({ username: 'alice@example.com', limit: 1 });
    expect(audit.at(-1)).toMatchObject({ outcome: 'reject', reason: 'wrong-scope' });
  });
});
