/**
 * The shared guard's Lua steps against a real, private redis-server: two guards on one Redis
 * stand for two mailgate instances. Failures use distinct fingerprints unless a test says not.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../../test/support/interop.js';
import { AuthGuard, DEFAULT_GUARD, type GuardEvent, type GuardOptions } from '../core/guard.js';
import { type Clock, systemClock } from '../core/types.js';
import { type RedisInstance, startRedis } from '../demo/redis.js';
import { sharedGuard } from './redis-guard.js';
import { connectRedis, type RedisLink } from './redis-link.js';

const OPTS: GuardOptions = { ...DEFAULT_GUARD, baseDelayMs: 100, maxDelayMs: 1_000, blockAfter: 4, accountCeiling: 6 };

describeInterop('shared guard in Redis', ['redis'], () => {
  let redis: RedisInstance;
  const links: RedisLink[] = [];
  let n = 0;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    for (const l of links) await l.close();
    await redis?.stop();
  });

  /** One "instance": its own local guard and Redis connection, a fresh key prefix per test. */
  const instance = async (prefix: string, clock: Clock = systemClock) => {
    const events: GuardEvent[] = [];
    const fallbacks: string[] = [];
    const state = { downs: 0, ups: 0 };
    const link = await connectRedis(redis.url, [], { onDown: () => state.downs++, onUp: () => state.ups++ });
    links.push(link);
    const local = new AuthGuard(
      systemClock,
      OPTS,
      (e) => {
        if (!link.up) events.push(e);
      },
      { 'portal-code': { baseDelayMs: 100 } },
    );
    const guard = sharedGuard({
      link,
      local,
      opts: OPTS,
      clock,
      prefix,
      onEvent: (e) => events.push(e),
      onFallback: (s) => fallbacks.push(s),
    });
    return { guard, local, link, events, fallbacks, state };
  };
  const waitFor = async (cond: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    return cond();
  };
  const pair = async () => {
    const prefix = `t${++n}:`;
    return [await instance(prefix), await instance(prefix)] as const;
  };

  it('alternating between two instances, a source is blocked at block_after, as against one', async () => {
    const [a, b] = await pair();
    let tries = 0;
    while ((await (tries % 2 ? b : a).guard.check('192.0.2.1', 'x@example.com')).kind === 'allow' && tries < 20) {
      await (tries % 2 ? b : a).guard.failure('192.0.2.1', 'x@example.com', `fp${tries}`);
      tries++;
    }
    expect(tries).toBe(OPTS.blockAfter);
    // Each instance alone saw 2 failures: only the shared count blocks.
    expect(a.local.blocks()).toHaveLength(1); // mirrored by a when its check met the shared block
    expect(await b.guard.check('192.0.2.1', null)).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect([...a.events, ...b.events].filter((e) => e.type === 'abuse.block')).toHaveLength(1);
  });

  it('the same wrong secret retried on the other instance is not counted again', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < 10; i++) await (i % 2 ? b : a).guard.failure('192.0.2.2', 'x@example.com', 'same');
    expect((await a.guard.check('192.0.2.2', 'x@example.com')).kind).toBe('allow');
  });

  it('a success forgives the delay of its own account on every instance, not the count towards the block', async () => {
    const [a, b] = await pair();
    const d1 = await a.guard.failure('192.0.2.3', 'own@example.com', 'f1');
    const d2 = await b.guard.failure('192.0.2.3', 'own@example.com', 'f2');
    expect([d1, d2]).toEqual([100, 200]);
    await a.guard.success('192.0.2.3', 'own@example.com');
    expect(await b.guard.failure('192.0.2.3', 'other@example.com', 'f3')).toBe(100);
    expect(await a.guard.failure('192.0.2.3', 'other@example.com', 'f4')).toBe(200);
    expect((await b.guard.check('192.0.2.3', null)).kind).toBe('blocked'); // 4 failures: the block stays
  });

  it('the account ceiling counts failures from sources of both instances, and spares a known source', async () => {
    const [a, b] = await pair();
    await a.guard.success('198.51.100.9', 'ceo@example.com'); // the owner's usual network
    for (let i = 0; i < OPTS.accountCeiling; i++) await (i % 2 ? b : a).guard.failure(`203.0.113.${i}`, 'ceo@example.com', `c${i}`);
    expect(await b.guard.check('203.0.113.200', 'ceo@example.com')).toMatchObject({ kind: 'blocked', reason: 'account-ceiling' });
    expect(await b.guard.check('198.51.100.9', 'ceo@example.com')).toEqual({ kind: 'allow' });
  });

  /** SUCCESS runs (HDEL is in no other script): counted by Redis itself, across instances. */
  const successes = async (l: RedisLink) => Number(/^cmdstat_hdel:calls=(\d+)/m.exec(await l.client.info('commandstats'))?.[1] ?? 0);
  /** One login's steps on an instance: check, then success; resolves to the SUCCESS runs it cost. */
  const login = async (i: Awaited<ReturnType<typeof instance>>, ip: string, account: string) => {
    const before = await successes(i.link);
    expect((await i.guard.check(ip, account)).kind).toBe('allow');
    await i.guard.success(ip, account);
    return (await successes(i.link)) - before;
  };

  it('a success after a check that found nothing to forgive costs no round trip; one with a failure to forgive does', async () => {
    const [a, b] = await pair();
    expect(await login(a, '192.0.2.20', 'app@example.com')).toBe(1); // not known yet: recorded
    expect(await login(a, '192.0.2.20', 'app@example.com')).toBe(0); // known, nothing to forgive
    expect(await login(b, '192.0.2.20', 'app@example.com')).toBe(0); // the other instance reads the same state
    expect(await b.guard.failure('192.0.2.20', 'app@example.com', 'typo')).toBe(100);
    expect(await login(a, '192.0.2.20', 'app@example.com')).toBe(1); // forgives the typo …
    expect(await b.guard.failure('192.0.2.20', 'other@example.com', 'x1')).toBe(100); // … so this is 2 - 1 failures
  });

  it('concurrent logins of one source and account (a mail app opening several connections) each skip', async () => {
    const [a] = await pair();
    expect(await login(a, '192.0.2.23', 'app@example.com')).toBe(1);
    const before = await successes(a.link);
    const checks = await Promise.all([1, 2, 3].map(() => a.guard.check('192.0.2.23', 'app@example.com')));
    expect(checks.map((c) => c.kind)).toEqual(['allow', 'allow', 'allow']);
    await Promise.all([1, 2, 3].map(() => a.guard.success('192.0.2.23', 'app@example.com')));
    expect((await successes(a.link)) - before).toBe(0);
    await a.guard.success('192.0.2.23', 'app@example.com'); // no check of its own left: goes to Redis
    expect((await successes(a.link)) - before).toBe(1);
  });

  it("a failure between a clean check and its success: this instance's is forgiven, another's stays counted", async () => {
    const [a, b] = await pair();
    expect(await login(a, '192.0.2.21', 'app@example.com')).toBe(1);
    // This instance's own failure in between: the success goes to Redis and forgives it.
    expect((await a.guard.check('192.0.2.21', 'app@example.com')).kind).toBe('allow');
    expect(await a.guard.failure('192.0.2.21', 'app@example.com', 'mine')).toBe(100);
    let before = await successes(a.link);
    await a.guard.success('192.0.2.21', 'app@example.com');
    expect((await successes(a.link)) - before).toBe(1);
    // Another instance's: the skipped success leaves it counted (stricter, never laxer).
    expect((await a.guard.check('192.0.2.21', 'app@example.com')).kind).toBe('allow');
    expect(await b.guard.failure('192.0.2.21', 'app@example.com', 'theirs')).toBe(100); // 2 - 1 forgiven
    before = await successes(a.link);
    await a.guard.success('192.0.2.21', 'app@example.com');
    expect((await successes(a.link)) - before).toBe(0);
    expect(await b.guard.failure('192.0.2.21', 'other@example.com', 'x2')).toBe(200); // 3 - 1: not forgiven
  });

  it("a known source's last success is written again once it is a minute old", async () => {
    let t = Date.now();
    const clock = { now: () => t };
    const a = await instance(`t${++n}:`, clock);
    expect(await login(a, '192.0.2.22', 'app@example.com')).toBe(1);
    t += 59_000;
    expect(await login(a, '192.0.2.22', 'app@example.com')).toBe(0);
    t += 2_000; // 61 s after the recorded success
    expect(await login(a, '192.0.2.22', 'app@example.com')).toBe(1);
    expect(await login(a, '192.0.2.22', 'app@example.com')).toBe(0);
  });

  it("the portal's code policy gives an account its free failures once, not once per instance", async () => {
    const [a, b] = await pair();
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) waits.push(await (i % 2 ? b : a).guard.fail('portal-code', `192.0.2.${40 + i}`, 'code@example.com'));
    expect(waits).toEqual([0, 0, 0, 0, 0, 100]); // 5 free (3 per instance: none would wait alone)
    expect(await a.guard.waitMs('portal-code', '192.0.2.99', 'code@example.com')).toBeGreaterThan(0); // per account
    await new Promise((r) => setTimeout(r, 120));
    await b.guard.succeed('portal-code', '192.0.2.99', 'code@example.com');
    expect(await b.guard.fail('portal-code', '192.0.2.99', 'code@example.com')).toBe(0); // the success forgave it everywhere
  });

  it('unblock on one instance frees the source on the other', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < OPTS.blockAfter; i++) await a.guard.failure('192.0.2.4', null, `u${i}`);
    expect((await b.guard.check('192.0.2.4', null)).kind).toBe('blocked');
    expect(await a.guard.unblock('192.0.2.4')).toBe(true);
    // b mirrored the block locally when it saw it: its own watcher lifts that (guard-watch), here by hand.
    await b.guard.unblock('192.0.2.4');
    expect((await b.guard.check('192.0.2.4', null)).kind).toBe('allow');
    expect((await a.guard.blocks()).map((x) => x.source)).not.toContain('192.0.2.4');
  });

  it('a hanging Redis counts as down after one timed-out step: the next steps answer at once, locally', async () => {
    const [a] = await pair();
    redis.pause();
    try {
      let t0 = Date.now();
      expect(await a.guard.failure('192.0.2.7', null, 'h1')).toBe(100); // the local count answers
      const first = Date.now() - t0;
      expect(first).toBeLessThan(2_000); // the command timeout (1 s), not forever
      expect(await waitFor(() => !a.link.up, 1_000)).toBe(true);
      t0 = Date.now();
      expect((await a.guard.check('192.0.2.7', null)).kind).toBe('allow');
      const next = Date.now() - t0;
      console.log(`hanging Redis: first step ${first} ms, next ${next} ms`);
      expect(next).toBeLessThan(100);
      expect(a.state.downs).toBe(1);
    } finally {
      redis.resume();
    }
    expect(await waitFor(() => a.link.up, 5_000)).toBe(true);
    expect(a.state.ups).toBe(1);
  }, 15_000);

  it('Redis down: blocks seen hold, new failures count locally (fallback counted), and are written back on recovery', async () => {
    const [a, b] = await pair();
    for (let i = 0; i < OPTS.blockAfter; i++) await a.guard.failure('192.0.2.5', null, `d${i}`);
    expect((await b.guard.check('192.0.2.5', null)).kind).toBe('blocked'); // b mirrors it
    await redis.kill();
    for (let i = 0; i < 20 && (a.link.up || b.link.up); i++) await new Promise((r) => setTimeout(r, 50));
    expect([a.link.up, b.link.up, a.state.downs, b.state.downs]).toEqual([false, false, 1, 1]);
    expect(await b.guard.check('192.0.2.5', null)).toMatchObject({ kind: 'blocked', reason: 'source-blocked' }); // fail closed
    for (let i = 0; i < OPTS.blockAfter; i++) await a.guard.failure('192.0.2.6', null, `o${i}`); // blocked during the outage
    expect((await a.guard.check('192.0.2.6', null)).kind).toBe('blocked');
    expect(a.events.filter((e) => e.type === 'abuse.block').map((e) => (e as { source: string }).source)).toContain('192.0.2.6');
    expect(a.fallbacks.length).toBeGreaterThan(0);
    await redis.restart();
    for (let i = 0; i < 60 && !(a.link.up && b.link.up); i++) await new Promise((r) => setTimeout(r, 50));
    expect([a.link.up, a.state.ups]).toEqual([true, 1]);
    expect(await a.guard.resync()).toBeGreaterThanOrEqual(1);
    expect(await b.guard.check('192.0.2.6', null)).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
  }, 20_000);
});
