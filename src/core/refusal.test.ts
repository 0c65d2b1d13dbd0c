/**
 * The refusal hint (issue 14 part 1): "this account needs an app passcode" is decided by the policy
 * alone. Every refusal an enforced account can get for a secret that is not a usable passcode
 * carries it — the main password, a guess, a revoked passcode, a name nobody has — and nothing
 * else does, so the hint tells a guesser only what the policy already says.
 */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from './authenticate.js';
import { VerifiedCache } from './cache.js';
import { NetworkSet } from './enforcement.js';
import { AuthGuard, DEFAULT_GUARD } from './guard.js';
import { localGuard } from './guard-port.js';
import { Identity } from './identity.js';
import { deriveKeys } from './keys.js';
import { createManager } from './manage.js';
import { SessionRegistry } from './sessions.js';
import type { AuthRequest, Hasher } from './types.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

const hasher: Hasher = {
  hash: async (s) => `h:${s}`,
  verify: async (s, h) => h === `h:${s}`,
  close: async () => {},
};

describe('refusal hint', () => {
  const keys = deriveKeys(Buffer.alloc(32, 3));
  const clock = { now: () => 1_700_000_000_000 };
  let store: Store;
  let auth: ReturnType<typeof createAuthenticator>;
  let manager: ReturnType<typeof createManager>;
  const req = (user: string, secret: string, remoteIp = '192.0.2.1'): AuthRequest => ({ user, secret, protocol: 'imap', remoteIp });

  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
    const policy = { enforce: ['example.com'] };
    const identity = new Identity({ defaultDomain: 'example.com', domains: ['example.com', 'example.org'] });
    const cache = new VerifiedCache(keys.cache, 60_000, clock);
    auth = createAuthenticator({
      store,
      hasher,
      keys,
      policy,
      exempt: new NetworkSet(['10.0.0.5/32']),
      cache,
      clock,
      guard: localGuard(new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 3 })),
      identity,
    });
    const sessions = new SessionRegistry();
    manager = createManager({ store, hasher, keys, clock, random: randomBytes, policy, cache, sessions, identity });
  });

  it('is given for every unusable secret on an enforced account, the unknown name in an enforced domain too', async () => {
    const p = await manager.createPasscode('alice@example.com', { name: 'tb', scopes: ['smtp'] });
    const gone = await manager.createPasscode('alice@example.com', { name: 'old', scopes: ['imap'] });
    await manager.revokePasscode('alice@example.com', gone.info.id, 'test');
    const cases: Array<[string, string, string]> = [
      ['alice@example.com', 'alice-main-pw', 'not-a-passcode'],
      ['alice@example.com', 'abcd efgh ijkl mnop', 'unknown-passcode'],
      ['alice@example.com', p.passcode, 'wrong-scope'],
      ['alice@example.com', gone.passcode, 'revoked'],
      ['nobody-here@example.com', 'whatever-pw', 'not-a-passcode'],
    ];
    for (const [i, [user, secret, reason]] of cases.entries()) {
      // One source each: the guard (blockAfter 3) must not step in.
      expect(await auth.authenticate(req(user, secret, `192.0.2.${i + 10}`)), `${user} ${reason}`).toMatchObject({
        kind: 'reject',
        reason,
        hint: 'needs-passcode',
      });
    }
  });

  it('is not given to a passthrough account, a domain not served, malformed input or a blocked source', async () => {
    expect(await auth.authenticate(req('bob@example.org', 'wrong'))).toEqual({
      kind: 'passthrough',
      account: 'bob@example.org',
      reason: 'not-enforced',
    });
    const malformed = [req('x@elsewhere.net', 'pw'), req('alice@example.com', ''), req('alice@example.com', 'a\u0000b')];
    for (const r of malformed) expect((await auth.authenticate(r)) as object).not.toHaveProperty('hint');
    for (let i = 0; i < 3; i++) await auth.authenticate(req('alice@example.com', `guess-${i}`, '198.51.100.7'));
    const blocked = await auth.authenticate(req('alice@example.com', 'guess-4', '198.51.100.7'));
    expect(blocked).toMatchObject({ kind: 'reject', reason: 'throttled' });
    expect(blocked).not.toHaveProperty('hint');
  });
});
