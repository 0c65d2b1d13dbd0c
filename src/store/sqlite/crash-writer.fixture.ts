/**
 * Test fixture for the crash-safety test (not production code): inserts passcodes as fast as it can
 * and prints each id only after its insert has committed. The test SIGKILLs this process and then
 * checks that every printed id survived.  Usage: node --import tsx crash-writer.fixture.ts <db-path>
 */
import { openSqliteStore } from './index.js';

const path = process.argv[2];
if (!path) throw new Error('usage: crash-writer.fixture.ts <db-path>');
const store = await openSqliteStore(path);
for (let i = 0; ; i++) {
  const id = `crash-${i}`;
  await store.insertPasscode({
    id,
    username: `user-${i % 7}`,
    name: 'crash test',
    scopes: ['imap'],
    tag: `tag-${i}`,
    hash: 'x'.repeat(60),
    createdAt: Date.now(),
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    lastUsedIp: null,
    lastUsedClient: null,
  });
  await store.appendAudit({
    ts: Date.now(),
    type: 'passcode.create',
    username: `user-${i % 7}`,
    protocol: null,
    ip: null,
    passcodeId: id,
    outcome: 'ok',
    reason: null,
    sessionId: null,
    detail: { i },
  });
  // Pipes are synchronous on Linux, so once this returns the parent can see the line.
  process.stdout.write(`${id}\n`);
}
