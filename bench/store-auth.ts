/**
 * The login phase's store cost, SQLite vs PostgreSQL (npm run bench:store): times the policy
 * core's authenticate() for one enforced account, in-process, without sockets or Dovecot, so the
 * difference between the two rows is the store. warm: the verified-credential cache hits (the
 * store sees the audit write, and a last-used write per new place); cold: cache off, every login
 * looks the passcode up by tag and runs bcrypt (cost 4 here, so the store's share shows).
 * Sequential logins give the latency; 16 concurrent ones the throughput.
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
import { createManager } from '../src/core/manage.js';
import { SessionRegistry } from '../src/core/sessions.js';
import { systemClock } from '../src/core/types.js';
import { createHasher } from '../src/runtime/hasher.js';
import { openPostgresStore } from '../src/store/postgres/index.js';
import { openSqliteStore } from '../src/store/sqlite/index.js';
import type { Store } from '../src/store/types.js';
import { startPostgres } from '../src/demo/postgres.js';

const N = Number(process.env.N ?? 2000);

async function measure(label: string, store: Store): Promise<string[]> {
  const keys = deriveKeys(randomBytes(32));
  const hasher = createHasher({ size: 2, cost: 4 });
  const policy = { enforce: ['example.com'] as string[] };
  const identity = new Identity();
  const manager = createManager({
    store,
    hasher,
    keys,
    clock: systemClock,
    random: randomBytes,
    policy,
    cache: new VerifiedCache(keys.cache, 60_000, systemClock),
    sessions: new SessionRegistry(),
    identity,
  });
  const { passcode } = await manager.createPasscode('alice@example.com', { name: 'bench', scopes: ['imap'] });
  const rows: string[] = [];
  for (const [mode, ttl] of [
    ['warm', 300_000],
    ['cold', 0],
  ] as const) {
    const auth = createAuthenticator({
      store,
      hasher,
      keys,
      policy,
      exempt: new NetworkSet([]),
      cache: new VerifiedCache(keys.cache, ttl, systemClock),
      clock: systemClock,
      guard: localGuard(new AuthGuard(systemClock, { ...DEFAULT_GUARD, blockAfter: 1_000_000 })),
      identity,
    });
    let i = 0;
    // A new source every 50 logins: some last-used writes, as a provider's mix of clients gives.
    const login = async () => {
      const d = await auth.authenticate({
        user: 'alice@example.com',
        secret: passcode,
        protocol: 'imap',
        remoteIp: `192.0.2.${((i++ / 50) % 250) | 0}`,
      });
      if (d.kind !== 'accept-passcode') throw new Error(`refused: ${JSON.stringify(d)}`);
    };
    for (let k = 0; k < 50; k++) await login();
    const lat: number[] = [];
    for (let k = 0; k < N / 2; k++) {
      const t = process.hrtime.bigint();
      await login();
      lat.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    lat.sort((a, b) => a - b);
    const t0 = performance.now();
    let left = N;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) await login();
      }),
    );
    const perS = N / ((performance.now() - t0) / 1000);
    rows.push(
      `| ${label} | ${mode} | ${lat[lat.length >> 1]!.toFixed(3)} ms | ${lat[Math.floor(lat.length * 0.99)]!.toFixed(3)} ms | ${perS.toFixed(0)} /s |`,
    );
  }
  await hasher.close();
  await store.close();
  return rows;
}

const dir = mkdtempSync(join(tmpdir(), 'mailgate-bench-store-'));
const pgServer = await startPostgres();
try {
  const rows = [
    ...(await measure('SQLite (file, WAL)', await openSqliteStore(join(dir, 'mailgate.db')))),
    ...(await measure('PostgreSQL 15 (loopback, pool 10)', await openPostgresStore({ url: await pgServer.createDatabase('bench') }))),
  ];
  console.log(`authenticate() of one enforced account, ${N / 2} sequential + ${N} with 16 concurrent (bcrypt cost 4)\n`);
  console.log('| store | cache | p50 | p99 | logins/s (16 concurrent) |\n|---|---|--:|--:|--:|');
  console.log(rows.join('\n'));
} finally {
  await pgServer.stop();
  rmSync(dir, { recursive: true, force: true });
}
