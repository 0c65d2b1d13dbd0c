/**
 * One share of a large idle-session run, in its own process: a process may hold at most as many
 * sockets as its open-files hard limit (20,000 here), so 20,000 sessions need several clients.
 *
 *   node --import tsx bench/idle-child.ts '{"ep":…,"user":…,"secret":…,"n":N,"parallel":P,"budgetMs":B}'
 *
 * Opens N sessions (LOGIN, SELECT INBOX, IDLE), prints { held, openErrors, firstError }; on the
 * stdin line `done` sends DONE on each and prints { answered }; exits at the end of stdin.
 */
import { createInterface } from 'node:readline';
import { openLoggedIn, type ImapConn } from './imap-client.js';
import type { Endpoint } from './imap-client.js';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  ep: Omit<Endpoint, 'ca'> & { ca?: string };
  user: string;
  secret: string;
  n: number;
  parallel: number;
  budgetMs: number;
};
const sessions: Array<{ c: ImapConn; done: () => Promise<string> }> = [];
let openErrors = 0;
let firstError: string | null = null;
const say = (x: unknown): void => {
  process.stdout.write(`${JSON.stringify(x)}\n`);
};

async function pool(items: number, parallel: number, fn: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items) }, async () => {
      while (next < items) {
        next++;
        await fn();
      }
    }),
  );
}

const ep: Endpoint = { ...o.ep, ca: o.ep.ca === undefined ? undefined : Buffer.from(o.ep.ca, 'utf8') };
const deadline = Date.now() + o.budgetMs;
await pool(o.n, o.parallel, async () => {
  if (Date.now() > deadline || openErrors > Math.max(50, o.n / 10)) return;
  let c: ImapConn | null = null;
  try {
    c = await openLoggedIn(ep, o.user, o.secret, 60_000);
    await c.ok('SELECT INBOX', 60_000);
    const idle = await c.idle(60_000);
    sessions.push({ c, done: idle.done });
  } catch (e) {
    openErrors++;
    firstError ??= (e as Error).message;
    c?.close();
  }
});
say({ held: sessions.length, openErrors, firstError });

const lines = createInterface({ input: process.stdin });
lines.on('line', (l) => {
  if (l.trim() !== 'done') return;
  const live = sessions.filter((s) => !s.c.closed);
  let answered = 0;
  void pool(live.length, o.parallel, async () => {
    const s = live.pop();
    try {
      if (s && /^\S+ OK/.test(await s.done())) answered++;
    } catch {
      /* counted as not answered */
    }
  }).then(() => say({ answered }));
});
lines.on('close', () => {
  for (const s of sessions) s.c.close();
  process.exit(0);
});
