/**
 * Child process for the crash test: creates and revokes passcodes as fast as it can, printing a
 * JSON line only after each action has been confirmed by the store — what an admin would have
 * seen on their terminal at the moment of a crash.
 */
import { loadConfig } from '../../src/config/load.js';
import { openCore } from '../../src/main.js';

const core = await openCore(loadConfig(process.argv[2]!), { hashWorkers: 2 });
const live: string[] = [];
for (let i = 0; ; i++) {
  const r = await core.manager.createPasscode(`user${i % 7}@example.com`, { name: `p${i}`, scopes: ['imap'] });
  process.stdout.write(`${JSON.stringify({ created: r.info.id, user: r.info.username, passcode: r.passcode })}\n`);
  live.push(`${r.info.username} ${r.info.id}`);
  if (i % 3 === 2) {
    const [user, id] = live.shift()!.split(' ');
    if ((await core.manager.revokePasscode(user!, id!)).revoked) process.stdout.write(`${JSON.stringify({ revoked: id })}\n`);
  }
}
