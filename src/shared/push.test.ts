/** Pushes: which audit events are published, and which poller a message wakes. */
import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/sqlite/index.js';
import { publishingStore, Waker } from './push.js';

describe('pushes between instances', () => {
  it('publishes the type of a pushed audit event once it is written, and nothing for other events', async () => {
    const published: string[] = [];
    const store = publishingStore(await openSqliteStore(':memory:'), (t) => published.push(t));
    const ev = (type: string) => ({ ts: 1, type, username: 'a@example.com', outcome: 'ok' }) as Parameters<typeof store.appendAudit>[0];
    await store.appendAudit(ev('auth'));
    await store.appendAudit(ev('passcode.revoke'));
    await store.appendAudit(ev('admin.unblock'));
    await store.appendAudit(ev('toString')); // not an own key of the table
    expect(published).toEqual(['passcode.revoke', 'admin.unblock']);
    expect((await store.queryAudit({ limit: 10 })).map((e) => e.type)).toEqual(['auth', 'passcode.revoke', 'admin.unblock', 'toString']);
    await store.close();
  });

  it('wakes only the poller the event type names; unknown types wake none', () => {
    const w = new Waker();
    const woke: string[] = [];
    w.for('revocations')(() => woke.push('revocations'));
    w.for('livepolicy')(() => woke.push('livepolicy'));
    w.for('unblocks')(() => woke.push('unblocks'));
    for (const t of ['passcode.revoke', 'account.enforce', 'passcode.scope', 'admin.unblock', 'constructor', 'garbage']) w.onMessage(t);
    expect(woke).toEqual(['revocations', 'livepolicy', 'livepolicy', 'unblocks']);
  });
});
