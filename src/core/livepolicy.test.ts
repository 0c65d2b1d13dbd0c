import { afterEach, expect, it } from 'vitest';
import { VerifiedCache } from './cache.js';
import { NetworkSet } from './enforcement.js';
import { deriveKeys } from './keys.js';
import { watchLivePolicy, type LivePolicy } from './livepolicy.js';
import type { RolloutEntry } from './rollout.js';
import { SessionRegistry } from './sessions.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

const DATE = 1_800_000_000_000;
let watcher: LivePolicy | null = null;
let store: Store | null = null;
afterEach(async () => {
  watcher?.stop();
  await store?.close();
});

it('a rollout date passing ends main-password sessions of the accounts it enforces, on the injected clock', async () => {
  let now = DATE - 10_000;
  const clock = { now: () => now };
  store = await openSqliteStore(':memory:');
  const sessions = new SessionRegistry();
  const closed: string[] = [];
  const open = (id: string, account: string, passcodeId: string | null, remoteIp = '192.0.2.1') =>
    sessions.register({ id, account, passcodeId, protocol: 'imap', remoteIp, since: now, close: (why) => closed.push(`${id}: ${why}`) });
  open('dated', 'a@example.net', null);
  open('dated-passcode', 'a@example.net', 'pc1');
  open('dated-exempt', 'b@example.net', null, '10.0.0.5');
  open('observed', 'c@example.org', null);
  const enforce: RolloutEntry[] = [
    { target: 'example.net', mode: 'enforce', from: DATE },
    { target: 'example.org', mode: 'observe', from: null },
  ];
  const keys = deriveKeys(Buffer.alloc(32, 3));
  watcher = watchLivePolicy({
    store,
    sessions,
    cache: new VerifiedCache(keys.cache, 60_000, clock),
    clock,
    policy: () => ({ policy: { enforce }, exempt: new NetworkSet(['10.0.0.5/32']) }),
    intervalMs: 20,
  });
  const ticks = () => new Promise((r) => setTimeout(r, 100));
  await ticks();
  expect(closed).toEqual([]); // before the date: observing, nothing ends
  now = DATE;
  await ticks();
  expect(closed).toEqual(['dated: account now enforced']);
  expect(sessions.list().map((s) => s.id)).toEqual(['dated-passcode', 'dated-exempt', 'observed']);
});
