/**
 * Security review finding 6b: the time a failure is answered must not tell enforced accounts
 * (refused by mailgate) from passthrough ones (refused by the upstream after its own
 * auth_failure_delay) or from unknown users. Real Dovecot with a 1 s auth_failure_delay, a gate
 * with failure_delay 1 s and 100 ms of jitter (narrow, so six samples give stable medians); each
 * round measures one failure of each kind at once, each from its own loopback address (so neither
 * mailgate's doubling nor Dovecot's per-IP penalty comes into play: the point is the reason for
 * the failure, not the count).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

const DELAY_MS = 1_000;
const ROUNDS = 6;
const HINT = 'This account needs an app passcode: https://mail.example.com/2fa';

describeInterop('failure answers are timed alike', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;

  // With the refusal hint on (as in production), the enforced account's refusal has other words
  // than the upstream's; the point here is that it comes at the same moment.
  const failAt = async (from: string, user: string, secret: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const t0 = performance.now();
    const answer = (await raw.cmd('t1', `LOGIN ${user} "${secret}"`)).at(-1)!;
    const ms = performance.now() - t0;
    raw.close();
    expect(answer).toBe(
      user === 'alice@example.com' ? `t1 NO [AUTHENTICATIONFAILED] ${HINT}` : 't1 NO [AUTHENTICATIONFAILED] Authentication failed.',
    );
    return ms;
  };
  /** SMTP: AUTH PLAIN after EHLO; Postfix checks passthrough passwords with the same Dovecot. */
  const smtpFailAt = async (from: string, user: string, secret: string) => {
    const raw = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^220 /);
    raw.send('EHLO timing.test\r\n');
    await raw.until(/^250 /);
    const t0 = performance.now();
    raw.send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${secret}`).toString('base64')}\r\n`);
    const answer = (await raw.until(/^\d{3} /)).at(-1)!;
    const ms = performance.now() - t0;
    raw.close();
    expect(answer).toBe(
      user === 'alice@example.com'
        ? '535 5.7.8 Authentication failed: this account needs an app passcode: https://mail.example.com/2fa'
        : '535 5.7.8 Authentication failed',
    );
    return ms;
  };
  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
  };

  beforeAll(async () => {
    dovecot = await startDovecot({ authFailureDelaySecs: 1 });
    postfix = await startPostfix({ dovecot });
    gate = await startGate(
      dovecot,
      {
        auth: {
          failure_delay: `${DELAY_MS}ms`,
          failure_jitter: '100ms',
          refusal_hint: true,
          throttle: { max_delay: `${DELAY_MS}ms`, block_after: 1000, account_ceiling: 1000 },
        },
        portal: { listen: { host: '127.0.0.1', port: 0 }, public_url: 'https://mail.example.com/2fa' },
      },
      postfix,
    );
  }, 60_000);
  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('finding 6b: failure answers take the same time for enforced and passthrough accounts', async () => {
    const times = { enforced: [] as number[], passthrough: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < ROUNDS; i++) {
      const [e, p, u] = await Promise.all([
        failAt(`127.0.0.${60 + i}`, 'alice@example.com', 'alice-main-pw'), // enforced: mailgate refuses the main password
        failAt(`127.0.0.${70 + i}`, 'bob@example.com', `wrong-${i}`), // passthrough: Dovecot refuses
        failAt(`127.0.0.${80 + i}`, `nobody${i}@example.com`, 'whatever'), // no such user: Dovecot refuses
      ]);
      times.enforced.push(e!);
      times.passthrough.push(p!);
      times.unknown.push(u!);
    }
    const medians = { enforced: median(times.enforced), passthrough: median(times.passthrough), unknown: median(times.unknown) };
    console.log(
      '6b answer times (ms)',
      JSON.stringify({ times, medians }, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v)),
    );
    for (const t of [...times.enforced, ...times.passthrough, ...times.unknown]) expect(t).toBeGreaterThanOrEqual(DELAY_MS - 5);
    expect(Math.abs(medians.enforced - medians.passthrough)).toBeLessThan(150);
    expect(Math.abs(medians.enforced - medians.unknown)).toBeLessThan(150);
    // Jitter: the enforced answers are not all at one instant (the old code answered at delay + ~1 ms).
    expect(Math.max(...times.enforced) - Math.min(...times.enforced)).toBeGreaterThan(10);
  }, 30_000);

  it('finding 6b (SMTP): AUTH failures take the same time for enforced and passthrough accounts', async () => {
    const times = { enforced: [] as number[], passthrough: [] as number[] };
    for (let i = 0; i < 4; i++) {
      const [e, p] = await Promise.all([
        smtpFailAt(`127.0.0.${90 + i}`, 'alice@example.com', 'alice-main-pw'),
        smtpFailAt(`127.0.0.${100 + i}`, 'bob@example.com', `wrong-${i}`),
      ]);
      times.enforced.push(e!);
      times.passthrough.push(p!);
    }
    console.log(
      '6b SMTP answer times (ms)',
      JSON.stringify(times, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v) : v)),
    );
    for (const t of [...times.enforced, ...times.passthrough]) expect(t).toBeGreaterThanOrEqual(DELAY_MS - 5);
    expect(Math.abs(median(times.enforced) - median(times.passthrough))).toBeLessThan(150);
  }, 30_000);
});
