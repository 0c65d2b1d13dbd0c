/**
 * Security review finding 4, end to end against a real Dovecot: an attacker who owns one account
 * logs in to it between wrong guesses on others. A success must not wipe the source's record, or
 * "4 guesses + 1 good login" repeated is never blocked.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { DEFAULT_USERS, startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const MALLORY = { user: 'mallory@example.com', password: 'mallory-main-pw' };
const FROM = '127.0.0.31';

describeInterop('brute-force guard cannot be reset', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;

  const login = async (user: string, secret: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: FROM });
    await raw.until(/^\* OK/);
    const answer = (await raw.cmd('t1', `LOGIN ${user} "${secret}"`)).at(-1)!;
    raw.close();
    return /^t1 OK/.test(answer);
  };

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [...DEFAULT_USERS, MALLORY] });
    // alice and bob enforced: the wrong guesses are refused by mailgate, mallory (the attacker's
    // own account) passes through to Dovecot with her real password.
    gate = await startGate(dovecot, {
      policy: { enforce: ['alice@example.com', 'bob@example.com'] },
      auth: { failure_delay: '10ms', throttle: { block_after: 5, max_delay: '50ms', block_for: '10m', account_ceiling: 1000 } },
    });
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it("finding 4: logging in to one's own account between guesses does not reset the guard", async () => {
    let guesses = 0;
    let blockedInRound = 0;
    for (let round = 1; round <= 8 && !blockedInRound; round++) {
      for (const victim of ['alice@example.com', 'bob@example.com']) {
        guesses++;
        expect(await login(victim, `wrong-guess-${guesses}`)).toBe(false);
      }
      if (!(await login(MALLORY.user, MALLORY.password))) blockedInRound = round;
    }
    // 2 guesses per round: the 5th distinct failure (round 3) blocks, so mallory's own login in
    // that round is refused too.
    expect({ blockedInRound, guesses }).toEqual({ blockedInRound: 3, guesses: 6 });
    expect(await gate.server.guard.check(FROM, MALLORY.user)).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    const blocks = await gate.server.core.store.queryAudit({ type: 'abuse.block' });
    expect(blocks.map((b) => [b.ip, b.detail?.failures])).toEqual([[FROM, 5]]);
  });
});
