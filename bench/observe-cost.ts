/**
 * What observe mode costs a main-password login (node --import tsx bench/observe-cost.ts): the
 * policy core's answer path — authenticate() then recordUpstreamResult(ok), as the front calls
 * them around the upstream login — for an unlisted account (off) and an observed one, in-process
 * on an SQLite file store, without sockets or Dovecot. The observation upsert runs off that path;
 * "drain" is how long its writes took to finish after the last login.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthenticator } from '../src/core/authenticate.js';
import { VerifiedCache } from '../src/core/cache.js';
import { NetworkSet } from '../src/core/enforcement.js';
import { AuthGuard, DEFAULT_GUARD } from '../src/core/guard.js';
import { localGuard } from '../src/core/guard-port.js';
import { Identity } from '../src/core/identity.js';
import { deriveKeys } from '../src/core/keys.js';
import { createObserver } from '../src/core/observe.js';
import { type AuthRequest, systemClock } from '../src/core/types.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';

const N = Number(process.env.N ?? 2000);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

async function measure(user: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-observe-'));
  const store = await openSqliteStore(join(dir, 'db.sqlite'));
  const keys = deriveKeys(randomBytes(32));
  const observer = createObserver({ store, clock: systemClock, notices: false, onError: (e) => console.error(e.message) });
  const auth = createAuthenticator({
    store,
    hasher: { hash: async (s) => s, verify: async () => false, close: async () => {} },
    keys,
    policy: { enforce: [{ target: 'observed.example', mode: 'observe', from: null }] },
    exempt: new NetworkSet([]),
    cache: new VerifiedCache(keys.cache, 60_000, systemClock),
    clock: systemClock,
    guard: localGuard(new AuthGuard(systemClock, { ...DEFAULT_GUARD, blockAfter: 1e9, accountCeiling: 1e9 })),
    identity: new Identity(),
    observer,
  });
  const times: number[] = [];
  for (let i = 0; i < N; i++) {
    // Ten apps on ten addresses: the upsert hits existing rows, as a reconnecting mail app does.
    const req: AuthRequest = { user, secret: 'main-password', protocol: 'imap', remoteIp: `192.0.2.${i % 10}`, clientId: `App ${i % 10}` };
    const t = process.hrtime.bigint();
    const d = await auth.authenticate(req);
    if (d.kind !== 'passthrough') throw new Error(`unexpected ${d.kind}`);
    auth.recordUpstreamResult(req, true);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const t = process.hrtime.bigint();
  await observer.idle();
  const drain = Number(process.hrtime.bigint() - t) / 1e6;
  const rows = await store.listObservations();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const sum = rows.reduce((n, r) => n + r.count, 0);
  return `${user.padEnd(24)} p50 ${pct(times, 0.5).toFixed(3)} ms  p99 ${pct(times, 0.99).toFixed(3)} ms  drain ${drain.toFixed(1)} ms  observed ${sum}`;
}

console.log(`N=${N} sequential main-password logins, answer path (authenticate + recordUpstreamResult)`);
console.log(await measure('user@off.example'));
console.log(await measure('user@observed.example'));
