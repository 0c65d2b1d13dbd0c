/**
 * Two mailgate instances on one store (a shared SQLite file) and one private Redis, in front of a
 * real Dovecot, as behind a load balancer: the brute-force guard counts across both, blocks
 * survive a restart, an unblock and a revocation reach the other instance by push, and a Redis
 * outage falls back to each instance's own state without accepting a blocked source.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { main } from '../../src/cli/index.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startRedis, type RedisInstance } from '../../src/demo/redis.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { pollUntil } from '../support/poll.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';

const ALICE = 'alice@example.com';
const BLOCK_AFTER = 4;
const ADMIN_TOKEN = 'multi-instance-admin-token';

describeInterop('two instances sharing Redis', ['dovecot', 'redis'], () => {
  let dovecot: DovecotInstance;
  let redis: RedisInstance;
  let a: Gate;
  let b: Gate;
  let passcode: string;
  let configFile: string;
  const shared = mkdtempSync(join(tmpdir(), 'mailgate-multi-'));
  const overrides = () => ({
    store: { sqlite: join(shared, 'mailgate.db') },
    secret_file: join(shared, 'secret.key'),
    redis: { url: redis.url, prefix: 'mg-test:' },
    auth: { failure_delay: '20ms', failure_jitter: '0ms', throttle: { block_after: BLOCK_AFTER, max_delay: '100ms', block_for: '10m' } },
    metrics: { listen: { host: '127.0.0.1', port: 0 } },
    portal: { listen: { host: '127.0.0.1', port: 0 } },
    admin: { token: ADMIN_TOKEN },
  });

  const login = async (gate: Gate, from: string, secret: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const answer = (await raw.cmd('t1', `LOGIN ${ALICE} "${secret}"`)).at(-1)!;
    raw.close();
    return /^t1 OK/.test(answer);
  };
  const metric = async (gate: Gate, name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${gate.server.ops!.address.port}/metrics`)).text();
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  };
  const waitFor = pollUntil;
  const cli = (...argv: string[]) => main([...argv, '--config', configFile], { out: () => {}, err: () => {}, env: {} });
  /** Records the pushes an instance receives (the message is only an event type). */
  const pushes = (gate: Gate) => {
    const seen: string[] = [];
    const waker = gate.server.core.shared!.waker;
    const orig = waker.onMessage.bind(waker);
    waker.onMessage = (type) => {
      seen.push(type);
      orig(type);
    };
    return seen;
  };

  beforeAll(async () => {
    [dovecot, redis] = await Promise.all([startDovecot(), startRedis()]);
    a = await startGate(dovecot, overrides());
    b = await startGate(dovecot, overrides());
    passcode = (await a.server.core.manager.createPasscode(ALICE, { name: 'phone', scopes: ['imap'] })).formatted;
    configFile = join(shared, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, shared, overrides())));
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.stop();
    await dovecot?.stop();
  });

  it('alternating wrong passcodes between A and B: blocked at block_after, as against one instance', async () => {
    let failures = 0;
    while (failures < BLOCK_AFTER - 1) expect(await login(failures++ % 2 ? b : a, '127.0.0.21', `wrong guess ${failures}`)).toBe(false);
    expect(await login(b, '127.0.0.21', passcode)).toBe(true); // 3 failures: not yet blocked
    expect(await login(failures++ % 2 ? b : a, '127.0.0.21', 'wrong guess 4')).toBe(false);
    console.log(`multi-instance: blocked after ${failures} failures alternating A/B (block_after ${BLOCK_AFTER})`);
    expect(failures).toBe(BLOCK_AFTER);
    expect(await login(a, '127.0.0.21', passcode)).toBe(false); // even the right passcode, on both
    expect(await login(b, '127.0.0.21', passcode)).toBe(false);
    expect((await a.server.core.store.queryAudit({ type: 'abuse.block' })).map((e) => e.ip)).toEqual(['127.0.0.21']); // one event, not two
  });

  it('a block survives restarting instance A', async () => {
    await a.close();
    a = await startGate(dovecot, overrides());
    expect(await login(a, '127.0.0.21', passcode)).toBe(false);
    expect(await login(a, '127.0.0.22', passcode)).toBe(true);
  });

  it('`mailgate unblock` frees the source on both instances, pushed', async () => {
    const onB = pushes(b);
    const t0 = Date.now();
    expect(await cli('unblock', '127.0.0.21')).toBe(0);
    expect(await waitFor(async () => (await b.server.guard.check('127.0.0.21', ALICE)).kind === 'allow', 2_000)).toBe(true);
    console.log(`multi-instance: unblock reached B after ${Date.now() - t0} ms`);
    expect(onB).toContain('admin.unblock');
    expect(await login(b, '127.0.0.21', passcode)).toBe(true);
    expect(await login(a, '127.0.0.21', passcode)).toBe(true);
  });

  it('the admin API lists a block made on B from A, and lifting it on A frees the source on B', async () => {
    for (let i = 0; i < BLOCK_AFTER; i++) expect(await login(b, '127.0.0.26', `api ${i}`)).toBe(false);
    const api = (method: string, path: string) =>
      fetch(`${a.server.portal!.url.replace(/\/$/, '')}/api/admin${path}`, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const listed = (await (await api('GET', '/blocks')).json()) as Array<{ source: string }>;
    expect(listed.map((x) => x.source)).toContain('127.0.0.26');
    const onB = pushes(b);
    const t0 = Date.now();
    const r = await api('DELETE', '/blocks/127.0.0.26');
    expect([r.status, await r.json()]).toEqual([200, { source: '127.0.0.26', lifted: true }]);
    expect(await waitFor(async () => (await b.server.guard.check('127.0.0.26', ALICE)).kind === 'allow', 1_000)).toBe(true);
    console.log(`multi-instance: admin API unblock on A reached B after ${Date.now() - t0} ms`);
    expect(onB).toContain('admin.unblock');
    expect(await login(b, '127.0.0.26', passcode)).toBe(true);
  });

  it("a revocation on A ends B's IDLE session within 1 s", async () => {
    const p = await a.server.core.manager.createPasscode(ALICE, { name: 'laptop', scopes: ['imap'] });
    const c = new ImapFlow({
      host: '127.0.0.1',
      port: b.imapsPort,
      secure: true,
      tls: { ca: readFileSync(b.ca) },
      auth: { user: ALICE, pass: p.formatted },
      logger: false,
    });
    c.on('error', () => {});
    const closed = new Promise<number>((res) => c.once('close', () => res(Date.now())));
    await c.connect();
    await c.mailboxOpen('INBOX');
    void c.idle().catch(() => {});
    await new Promise((r) => setTimeout(r, 100)); // IDLE is on the wire
    const onB = pushes(b);
    const t0 = Date.now();
    expect((await a.server.core.manager.revokePasscode(ALICE, p.info.id)).revoked).toBe(true);
    const took = await Promise.race([closed.then((t) => t - t0), new Promise<null>((r) => setTimeout(() => r(null), 1_500))]);
    console.log(`multi-instance: revocation on A ended B's IDLE session after ${took ?? 'more than 1500'} ms`);
    expect(took).not.toBeNull();
    expect(took!).toBeLessThanOrEqual(1_000);
    expect(onB).toContain('passcode.revoke');
  });

  it('Redis killed: logins still answer, blocked sources stay refused, one loud line; back: recovery logged, blocks re-synced', async () => {
    for (let i = 0; i < BLOCK_AFTER; i++) await login(a, '127.0.0.23', `wrong ${i}`); // blocked while Redis is up
    expect(await login(b, '127.0.0.23', passcode)).toBe(false); // B saw the block (and mirrors it)
    expect(await metric(a, 'mailgate_redis_up')).toBe(1);
    await redis.kill();
    expect(await waitFor(() => !a.server.core.shared!.link.up && !b.server.core.shared!.link.up, 3_000)).toBe(true);
    expect(await login(b, '127.0.0.23', passcode)).toBe(false); // fail closed for a block seen here
    expect(await login(a, '127.0.0.24', passcode)).toBe(true); // others still log in
    for (let i = 0; i < BLOCK_AFTER; i++) expect(await login(a, '127.0.0.25', `outage ${i}`)).toBe(false); // counted locally
    expect(await login(a, '127.0.0.25', passcode)).toBe(false);
    expect(await metric(a, 'mailgate_redis_up')).toBe(0);
    expect(await metric(a, 'mailgate_redis_fallback_total{step="check"}')).toBeGreaterThan(0);
    const loud = (g: Gate) =>
      g
        .logs()
        .split('\n')
        .filter((l) => l.includes('Redis unreachable'));
    expect(loud(a)).toHaveLength(1);
    expect(loud(a)[0]).toMatch(/"level":"error"|"level":50/);
    expect(loud(b)).toHaveLength(1);

    await redis.restart();
    expect(await waitFor(() => a.logs().includes('Redis reachable again'), 5_000)).toBe(true);
    const back = a
      .logs()
      .split('\n')
      .find((l) => l.includes('Redis reachable again'))!;
    console.log(`multi-instance: ${back.slice(0, 200)}`);
    expect(JSON.parse(back).resynced).toBeGreaterThanOrEqual(1);
    expect(await metric(a, 'mailgate_redis_up')).toBe(1);
    // B never saw 127.0.0.25 fail: it refuses it from the re-synced shared block.
    expect((await b.server.guard.check('127.0.0.25', ALICE)).kind).toBe('blocked');
    expect(await login(b, '127.0.0.25', passcode)).toBe(false);
  }, 30_000);
});
