/**
 * WarmPool's policy with fake connections and a fake clock: filled only once logins come,
 * young usable connections handed out once each, old or unusable ones closed, no refill while
 * no login comes, a failed open not retried at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WarmPool } from './pool.js';

interface Fake {
  id: number;
  usable: boolean;
  closed: boolean;
}

let pools: Array<WarmPool<Fake>> = [];
afterEach(() => {
  for (const p of pools) p.close();
  pools = [];
});

function setup(size = 2, maxAgeMs = 20_000) {
  let t = 1_000_000;
  let n = 0;
  let fail = false;
  const made: Fake[] = [];
  const pool = new WarmPool<Fake>(
    {
      open: async () => {
        if (fail) throw new Error('refused');
        const f = { id: ++n, usable: true, closed: false };
        made.push(f);
        return f;
      },
      usable: (f) => f.usable,
      close: (f) => {
        f.closed = true;
      },
    },
    { size, maxAgeMs },
    () => t,
  );
  pools.push(pool);
  return {
    pool,
    made,
    advance: (ms: number) => {
      t += ms;
    },
    setFail: (v: boolean) => {
      fail = v;
    },
  };
}
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('WarmPool', () => {
  it('opens nothing until the first take; then keeps `size` ready and hands each out once', async () => {
    const { pool, made } = setup(2);
    await settle();
    expect(made).toHaveLength(0);
    const first = await pool.take();
    expect(first.pooled).toBe(false);
    await settle();
    expect(pool.size).toBe(2);
    const a = await pool.take();
    const b = await pool.take();
    expect([a.pooled, b.pooled]).toEqual([true, true]);
    expect(a.conn).not.toBe(b.conn);
    expect(a.conn).not.toBe(first.conn);
  });

  it('closes connections past max_age or unusable instead of handing them out', async () => {
    const { pool, made, advance } = setup(2, 20_000);
    await pool.take();
    await settle();
    made[0]!.usable = false; // the upstream hung up on the oldest one
    advance(5_000);
    const got = await pool.take();
    expect(got.pooled).toBe(true);
    expect(made[0]!.closed).toBe(true);
    await settle();
    advance(20_001); // everything pooled is now too old
    const old = await pool.take();
    expect(old.pooled).toBe(false);
    expect(made.filter((f) => f.closed).length).toBeGreaterThanOrEqual(2);
  });

  it('does not refill while no login comes, and waits after a failed open', async () => {
    const { pool, made, advance, setFail } = setup(2, 1_000);
    await pool.take();
    await settle();
    const opened = made.length;
    advance(5_000); // no take for longer than max_age: an idle gate does not reconnect
    (pool as unknown as { sweep(): void }).sweep();
    await settle();
    expect(made.length).toBe(opened);
    expect(pool.size).toBe(0);
    setFail(true);
    await expect(pool.take()).rejects.toThrow(/refused/); // the login's own open fails as before
    await settle();
    setFail(false);
    await pool.take(); // within the retry wait: only the login's own connection is opened
    await settle();
    expect(made.length).toBe(opened + 1);
  });
});
