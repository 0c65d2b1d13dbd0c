/**
 * One share of a large idle-session run, in its own process: a process may hold at most as many
 * sockets as its open-files hard limit (20,000 here), so 20,000 sessions need several clients.
 *
 *   IDLE_CHILD_SECRET=… node --import tsx bench/idle-child.ts '{"ep":…,"user":…,"n":N,"parallel":P,"budgetMs":B}'
 *
 * (The secret comes through the environment: argv is visible to every user in `ps`.)
 *
 * Opens N sessions (LOGIN, SELECT INBOX, IDLE), prints { held, openErrors, firstError }; on the
 * stdin line `done` sends DONE on each and prints { answered }; exits at the end of stdin.
 */
import { createInterface } from 'node:readline';
import type { Endpoint } from './imap-client.js';
import { endIdle, openIdleSessions } from './idle-load.js';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  ep: Omit<Endpoint, 'ca'> & { ca?: string };
  user: string;
  n: number;
  parallel: number;
  budgetMs: number;
};
const say = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x)}\n`);
};

// The CA came as PEM text (a Buffer does not survive JSON).
const ep: Endpoint = { ...o.ep, ca: o.ep.ca === undefined ? undefined : Buffer.from(o.ep.ca, 'utf8') };
const { sessions, openErrors, firstError } = await openIdleSessions(ep, o.user, process.env.IDLE_CHILD_SECRET ?? '', o.n, o);
say({ held: sessions.length, openErrors, firstError });

const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  if (l.trim() === 'done') void endIdle(sessions, o.parallel).then((answered) => say({ answered }));
});
lines.on('close', () => {
  for (const s of sessions) s.c.close();
  process.exit(0);
});
