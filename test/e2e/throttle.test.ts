/**
 * Brute-force defence end to end (IMAP against a real Dovecot): failures are answered ever more
 * slowly, then the source is blocked and refused at once; other sources and a misconfigured mail
 * app repeating one old password are not; `mailgate unblock` lifts a block in the running server.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';
const THROTTLE = {
  auth: { failure_delay: '200ms', throttle: { block_after: 3, max_delay: '1s', block_for: '10m', account_ceiling: 1000 } },
};

describeInterop('login throttling', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let passcode: string;
  let configFile: string;

  const login = async (from: string, secret: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const t0 = Date.now();
    const answer = (await raw.cmd('t1', `LOGIN ${ALICE} "${secret}"`)).at(-1)!;
    raw.close();
    return { ok: /^t1 OK/.test(answer), ms: Date.now() - t0, answer };
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    gate = await startGate(dovecot, THROTTLE);
    passcode = (await gate.server.core.manager.createPasscode(ALICE, { name: 't', scopes: ['imap'] })).formatted;
    configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, THROTTLE)));
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('slows failures down, then blocks the source without doing any work for it', async () => {
    const fails = [];
    for (const guess of ['aaaa bbbb cccc dddd', 'alice-main-pw', 'eeee ffff gggg hhhh']) fails.push(await login('127.0.0.7', guess));
    expect(fails.map((f) => f.answer)).toEqual(Array(3).fill('t1 NO [AUTHENTICATIONFAILED] Authentication failed.'));
    expect(fails[0]!.ms).toBeGreaterThanOrEqual(190);
    expect(fails[1]!.ms).toBeGreaterThanOrEqual(390);
    expect(fails[2]!.ms).toBeGreaterThanOrEqual(790);

    const blocked = await login('127.0.0.7', passcode); // even the right passcode
    expect(blocked.ok).toBe(false);
    expect(blocked.ms).toBeLessThan(150);
    const audit = await gate.server.core.store.queryAudit({ username: ALICE, limit: 1 });
    expect(audit.at(-1)).toMatchObject({ outcome: 'reject', reason: 'throttled', ip: '127.0.0.7' });
    expect((await gate.server.core.store.queryAudit({ type: 'abuse.block' })).at(-1)).toMatchObject({ ip: '127.0.0.7' });

    expect((await login('127.0.0.8', passcode)).ok).toBe(true); // another source is not affected
  });

  it('does not escalate when a mail app repeats one old password', async () => {
    for (let i = 0; i < 6; i++) expect((await login('127.0.0.9', 'old-password')).ok).toBe(false);
    expect((await login('127.0.0.9', passcode)).ok).toBe(true);
  });

  it('lists blocks and lifts one in the running server with `mailgate unblock`', async () => {
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
    expect(await main(['unblock', '--config', configFile], io)).toBe(0);
    expect(out).toMatch(/127\.0\.0\.7\s+\S+/);
    expect(await main(['unblock', '127.0.0.7', '--config', configFile], io)).toBe(0);
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ok = (await gate.server.guard.check('127.0.0.7', ALICE)).kind === 'allow';
    }
    expect(ok).toBe(true);
    expect((await login('127.0.0.7', passcode)).ok).toBe(true);
  });
});
