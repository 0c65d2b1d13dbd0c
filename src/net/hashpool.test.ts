import bcrypt from 'bcryptjs';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createHashPool } from './hashpool.js';

describe('hash pool', () => {
  const pool = createHashPool({ cost: 4 });
  afterAll(() => pool.close());

  it('hashes and verifies', async () => {
    const hash = await pool.hash('ABCD-EFGH-JKLM-NPQR');
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await pool.verify('ABCD-EFGH-JKLM-NPQR', hash)).toBe(true);
    expect(bcrypt.compareSync('ABCD-EFGH-JKLM-NPQR', hash)).toBe(true); // plain bcrypt, interoperable
    expect(await pool.verify('ABCD-EFGH-JKLM-NPQS', hash)).toBe(false);
    expect(await pool.verify('', hash)).toBe(false);
  });

  it('verifies hashes made elsewhere, including unicode secrets', async () => {
    const hash = bcrypt.hashSync('pässwörd ✉', 5);
    expect(await pool.verify('pässwörd ✉', hash)).toBe(true);
    expect(await pool.verify('passwörd ✉', hash)).toBe(false);
  });

  it('resolves false for malformed hashes, never throws', async () => {
    const good = await pool.hash('x');
    const malformed = [
      '', 'not-a-hash', '$2b$10$short', good.slice(0, -1), `${good}x`, good.replace('$2b$', '$9z$'),
      '$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', // absurd cost: refused, not run
      '$2b$10$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    ];
    for (const h of malformed) expect(await pool.verify('x', h)).toBe(false);
    expect(await pool.verify('x', null as unknown as string)).toBe(false);
  });

  it('completes 8 concurrent verifies', async () => {
    const hash = await pool.hash('secret');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => pool.verify(i % 2 === 0 ? 'secret' : 'wrong', hash)),
    );
    expect(results).toEqual([true, false, true, false, true, false, true, false]);
  });

  it('keeps the main event loop responsive while hashing at cost 10', async () => {
    // Architecture regression check, not a benchmark: bcrypt on the main thread stalls the loop for
    // ~50-100 ms per hash, every time. A busy machine can preempt this thread too, but only now and
    // then — so one clean run out of three proves the architecture. One worker leaves a core free.
    const busy = createHashPool({ size: 1, cost: 10 });
    try {
      await busy.hash('warm-up'); // thread + module start-up is not what we measure
      const lags: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        let last = performance.now();
        let maxLag = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          maxLag = Math.max(maxLag, now - last - 1);
          last = now;
        }, 1);
        const hashes = await Promise.all(Array.from({ length: 20 }, (_, i) => busy.hash(`secret-${i}`)));
        clearInterval(timer);
        expect(new Set(hashes).size).toBe(20);
        lags.push(maxLag);
        if (maxLag < 20) break;
      }
      expect(Math.min(...lags), `max event-loop lag per attempt: ${lags.join(', ')} ms`).toBeLessThan(20);
    } finally {
      await busy.close();
    }
  }, 60_000);

  it('rejects every call after close(), including pending ones', async () => {
    const p = createHashPool({ size: 1, cost: 4 });
    const hash = await p.hash('a');
    const pending = Promise.allSettled([p.hash('b'), p.hash('c'), p.verify('a', hash)]);
    await p.close();
    for (const r of await pending) expect(r.status).toBe('rejected');
    await expect(p.hash('a')).rejects.toThrow(/closed/);
    await expect(p.verify('a', hash)).rejects.toThrow(/closed/);
    await p.close(); // idempotent
  });

  it('rejects only the job of a worker that dies, then carries on with a new worker', async () => {
    // Sabotage delivery of chosen requests: a null message makes the worker throw outside its
    // per-request try/catch ('error' event); terminate() instead of delivery simulates a thread
    // that just exits while holding a job.
    const post = Worker.prototype.postMessage;
    const spy = vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (this: Worker, msg: unknown) {
      const secret = (msg as { secret?: string } | null)?.secret;
      if (secret === 'CRASH') return post.call(this, null);
      if (secret === 'EXIT') return void this.terminate(); // dies with the job in flight
      post.call(this, msg);
    });
    const p = createHashPool({ size: 1, cost: 4 });
    try {
      const results = await Promise.allSettled([p.hash('CRASH'), p.hash('ok-1'), p.hash('EXIT'), p.hash('ok-2')]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
      expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/exited/);
      const h = (results[3] as PromiseFulfilledResult<string>).value;
      expect(await p.verify('ok-2', h)).toBe(true);
    } finally {
      spy.mockRestore();
      await p.close();
    }
  });

  it('rejects bad options', () => {
    expect(() => createHashPool({ size: 0 })).toThrow(RangeError);
    expect(() => createHashPool({ cost: 3 })).toThrow(RangeError);
    expect(() => createHashPool({ cost: 17 })).toThrow(RangeError);
  });
});
