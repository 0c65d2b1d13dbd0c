/**
 * The pollers that carry changes made by another process: a poll that finds one lets the row
 * cache forget (onChange) before it acts, so what it — and the next login — reads is the store's.
 */
import { afterEach, expect, it } from 'vitest';
import { appendAudit } from './audit.js';
import { VerifiedCache } from './cache.js';
import { NetworkSet } from './enforcement.js';
import { deriveKeys } from './keys.js';
import { watchLivePolicy } from './livepolicy.js';
import { watchRevocations } from './revocations.js';
import { SessionRegistry } from './sessions.js';
import { systemClock } from './types.js';
import { samplePasscode } from '../store/contract.js';
import { overlayStore } from '../store/overlay.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { Store } from '../store/types.js';

const clock = { now: () => Date.now() };
const cache = new VerifiedCache(deriveKeys(Buffer.alloc(32, 3)).cache, 60_000, clock);
const stops: Array<() => void> = [];
let store: Store | null = null;
afterEach(async () => {
  for (const s of stops.splice(0)) s();
  await store?.close();
});
const ticks = () => new Promise((r) => setTimeout(r, 120));

it('watchRevocations: a revocation found by the poll calls onChange before ending the sessions; a poll finding none does not', async () => {
  store = await openSqliteStore(':memory:');
  await store.insertPasscode(samplePasscode({ id: 'pc_1', username: 'alice', tag: 't1' }));
  const order: string[] = [];
  const sessions = new SessionRegistry();
  sessions.register({
    id: 's1',
    account: 'alice',
    passcodeId: 'pc_1',
    protocol: 'imap',
    remoteIp: '192.0.2.1',
    since: 0,
    close: () => order.push('closed'),
  });
  stops.push(watchRevocations({ store, cache, sessions, clock, intervalMs: 20, onChange: () => order.push('onChange') }));
  await ticks();
  expect(order).toEqual([]);
  await store.revokePasscode('alice', 'pc_1', Date.now()); // as another process would
  await ticks();
  expect(order).toEqual(['onChange', 'closed']);
});

it('watchLivePolicy: an enforcement event found by the poll calls onChange before the account is read again', async () => {
  const real = await openSqliteStore(':memory:');
  store = real;
  const order: string[] = [];
  const watched = overlayStore(real, {
    getAccount: (u) => {
      order.push(`read ${u}`);
      return real.getAccount(u);
    },
  });
  const sessions = new SessionRegistry();
  sessions.register({
    id: 's1',
    account: 'bob',
    passcodeId: null,
    protocol: 'imap',
    remoteIp: '192.0.2.1',
    since: 0,
    close: () => order.push('closed'),
  });
  const live = watchLivePolicy({
    store: watched,
    sessions,
    cache,
    clock,
    policy: () => ({ policy: { enforce: [] }, exempt: new NetworkSet([]) }),
    intervalMs: 20,
    onChange: () => order.push('onChange'),
  });
  stops.push(live.stop);
  await ticks();
  expect(order).toEqual([]);
  await real.setEnforcement('bob', true, Date.now(), 'admin');
  await appendAudit(real, systemClock, { type: 'account.enforce', username: 'bob', outcome: 'ok' });
  await ticks();
  expect(order).toEqual(['onChange', 'read bob', 'closed']);
});
