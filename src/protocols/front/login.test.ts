/**
 * The one login flow against a fake core and a fake upstream adapter: what each outcome becomes,
 * what the guard is told, and that only the canonical account goes upstream.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Authenticator } from '../../core/authenticate.js';
import type { Decision } from '../../core/types.js';
import { createLogger } from '../../runtime/logger.js';
import type { LoginTimer } from './pacing.js';
import { loginFlow, refuseEarly } from './login.js';
import type { UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from './types.js';

function setup(decision: Decision | Error, upstream: UpstreamLogin<string> | Error) {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(c, _e, cb) {
        lines.push(String(c));
        cb();
      },
    }),
  });
  const recorded: Array<[boolean, string | undefined]> = [];
  const authenticator: Authenticator = {
    async authenticate() {
      if (decision instanceof Error) throw decision;
      return decision;
    },
    setPolicy() {},
    async recordUpstreamResult(_r, ok, detail) {
      recorded.push([ok, detail]);
      return 700;
    },
  };
  const creds: UpstreamCredentials[] = [];
  const adapter: UpstreamAdapter<string> = {
    protocol: 'pop3',
    upstreamLabel: 'up:110',
    async login(c) {
      creds.push(c);
      if (upstream instanceof Error) throw upstream;
      return upstream;
    },
    detach: () => {
      throw new Error('not here');
    },
    close() {},
  };
  const waited: number[] = [];
  const timer: LoginTimer = {
    async failureDue(ms) {
      waited.push(ms);
    },
  };
  const run = () =>
    loginFlow({ authenticator, failureDelayMs: 2000, log }, adapter, {
      protocol: 'pop3',
      user: 'Alice',
      secret: 's3cret-pw',
      timer,
      clientName: null,
      client: { sessionId: 's1', remoteIp: '192.0.2.5', remotePort: 1234, localIp: '192.0.2.1', localPort: 110 },
    });
  return { run, creds, recorded, waited, logs: () => lines.join('') };
}

const passcode: Decision = { kind: 'accept-passcode', account: 'alice@example.com', passcodeId: 'p1', cached: false, expiresAt: null };
const passthrough: Decision = { kind: 'passthrough', account: 'alice@example.com', reason: 'not-enforced' };

describe('the login flow', () => {
  it('a passcode logs the canonical account in through the master login; the session comes back', async () => {
    const t = setup(passcode, { kind: 'ok', session: 'UP' });
    expect(await t.run()).toEqual({ kind: 'ok', session: 'UP', decision: passcode });
    expect(t.creds).toEqual([{ kind: 'master', account: 'alice@example.com' }]);
    expect(t.waited).toEqual([]);
  });

  it("passthrough sends the user's own password for the canonical account and tells the guard how it went", async () => {
    const ok = setup(passthrough, { kind: 'ok', session: 'UP' });
    expect((await ok.run()).kind).toBe('ok');
    expect(ok.creds).toEqual([{ kind: 'user', account: 'alice@example.com', password: 's3cret-pw' }]);
    expect(ok.recorded).toEqual([[true, undefined]]);
    const refused = setup(passthrough, { kind: 'refused', detail: 'NO wrong' });
    expect(await refused.run()).toEqual({ kind: 'failed' });
    expect(refused.recorded).toEqual([[false, 'NO wrong']]);
    expect(refused.waited).toEqual([700]); // the guard's delay, measured from the login command
  });

  it('a core rejection waits for its delay and never reaches the upstream', async () => {
    const t = setup(
      { kind: 'reject', account: 'alice@example.com', reason: 'not-a-passcode', delayMs: 2000 },
      { kind: 'ok', session: 'UP' },
    );
    expect(await t.run()).toEqual({ kind: 'failed' });
    expect(t.waited).toEqual([2000]);
    expect(t.creds).toEqual([]);
  });

  it('an account unknown upstream is the normal failure; a refused master login or a broken upstream is unavailable with an error line', async () => {
    const unknown = setup(passcode, { kind: 'unknown-account', detail: 'no such user' });
    expect(await unknown.run()).toEqual({ kind: 'failed' });
    expect(unknown.waited).toEqual([2000]);
    const master = setup(passcode, { kind: 'refused', detail: 'NO [AUTHENTICATIONFAILED]', server: 'dovecot' });
    expect(await master.run()).toEqual({ kind: 'unavailable' });
    expect(master.logs()).toMatch(/"level":50.*"upstream":"dovecot".*upstream refused the master login: check pop3\.upstream\.auth/);
    const broken = setup(passcode, new Error('boom'));
    expect(await broken.run()).toEqual({ kind: 'unavailable' });
    expect(broken.logs()).toMatch(/"level":50.*"stage":"internal".*"err":"boom".*POP3 upstream unavailable/);
    expect(broken.waited).toEqual([]);
  });

  it('a store failure is unavailable at once, and no secret reaches the log', async () => {
    const t = setup(new Error('SQLITE_BUSY'), { kind: 'ok', session: 'UP' });
    expect(await t.run()).toEqual({ kind: 'unavailable' });
    expect(t.waited).toEqual([]);
    expect(t.logs()).toMatch(/authentication failed internally/);
    expect(t.logs()).not.toContain('s3cret-pw');
  });

  it('a login refused before the core (authzid ≠ authcid) waits failure_delay', async () => {
    const waited: number[] = [];
    expect(
      await refuseEarly(
        { authenticator: {} as Authenticator, failureDelayMs: 1500, log: createLogger({ level: 'silent' }) },
        {
          async failureDue(ms) {
            waited.push(ms);
          },
        },
      ),
    ).toEqual({ kind: 'failed' });
    expect(waited).toEqual([1500]);
  });
});
