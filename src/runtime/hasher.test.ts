import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import bcrypt from 'bcryptjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createHasher } from './hasher.js';

describe('hasher (@node-rs/bcrypt on niced worker threads)', () => {
  const hasher = createHasher({ cost: 4 });
  afterAll(() => hasher.close());

  it('hashes and verifies', async () => {
    const hash = await hasher.hash('ABCD-EFGH-JKLM-NPQR');
    expect(hash).toMatch(/^\$2b\$04\$/);
    expect(await hasher.verify('ABCD-EFGH-JKLM-NPQR', hash)).toBe(true);
    expect(bcrypt.compareSync('ABCD-EFGH-JKLM-NPQR', hash)).toBe(true); // plain bcrypt, interoperable
    expect(await hasher.verify('ABCD-EFGH-JKLM-NPQS', hash)).toBe(false);
    expect(await hasher.verify('', hash)).toBe(false);
  });

  it('verifies the passcode hashes bcryptjs made ($2b$, $2a$, $2y$), including unicode secrets', async () => {
    const made = bcrypt.hashSync('pässwörd ✉', 5);
    for (const prefix of ['$2b$', '$2a$', '$2y$']) {
      const hash = made.replace('$2b$', prefix);
      expect(await hasher.verify('pässwörd ✉', hash)).toBe(true);
      expect(await hasher.verify('passwörd ✉', hash)).toBe(false);
    }
    // A $2a$ hash as bcryptjs 2.x wrote it (genSalt default): the format of hashes stored by older installs.
    const old = bcrypt.hashSync('abcdefghijklmnop', bcrypt.genSaltSync(4)).replace('$2b$', '$2a$');
    expect(await hasher.verify('abcdefghijklmnop', old)).toBe(true);
  });

  it('resolves false for malformed hashes, never throws', async () => {
    const good = await hasher.hash('x');
    const malformed = [
      '',
      'not-a-hash',
      '$2b$10$short',
      good.slice(0, -1),
      `${good}x`,
      good.replace('$2b$', '$9z$'),
      '$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234', // absurd cost: refused, not run
      '$2b$10$!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    ];
    for (const h of malformed) expect(await hasher.verify('x', h)).toBe(false);
    expect(await hasher.verify('x', null as unknown as string)).toBe(false);
  });

  it('completes 8 concurrent verifies', async () => {
    const hash = await hasher.hash('secret');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => hasher.verify(i % 2 === 0 ? 'secret' : 'wrong', hash)));
    expect(results).toEqual([true, false, true, false, true, false, true, false]);
  });

  it('runs at most `size` hashes at once, the others wait in arrival order', async () => {
    const two = createHasher({ size: 2, cost: 6 });
    try {
      const secrets = ['a', 'b', 'c', 'd', 'e', 'f'];
      let most = 0;
      const timer = setInterval(() => (most = Math.max(most, two.busy)), 1);
      const pending = secrets.map((s) => two.hash(s));
      expect([two.busy, two.waiting]).toEqual([2, 4]); // what mailgate_hash_jobs reports
      const hashes = await Promise.all(pending);
      clearInterval(timer);
      expect(most).toBe(2);
      expect(two.busy).toBe(0);
      expect(await Promise.all(hashes.map((h, i) => two.verify(secrets[i]!, h)))).toEqual(secrets.map(() => true));
      expect(await two.verify('a', hashes[1]!)).toBe(false); // each answer went to its own caller
    } finally {
      await two.close();
    }
  });

  it.runIf(process.platform === 'linux')('hashes on threads of lower priority, the event loop keeps its own', async () => {
    const niceOf = (): Map<string, number> => {
      const out = new Map<string, number>();
      for (const t of readdirSync('/proc/self/task')) {
        try {
          const st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
          out.set(t, Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[16]));
        } catch {} // a thread that ended meanwhile
      }
      return out;
    };
    const before = niceOf();
    const niced = createHasher({ size: 1, cost: 4, nice: 12 });
    try {
      await niced.hash('x'); // the worker starts on first use
      const added = [...niceOf()].filter(([t]) => !before.has(t)).map(([, n]) => n);
      expect(added).toContain(12);
      expect(niceOf().get(String(process.pid))).toBe(0);
      expect(os.getPriority()).toBe(0);
    } finally {
      await niced.close();
    }
    expect(() => createHasher({ nice: 20 })).toThrow(RangeError);
  });

  it('keeps the main event loop responsive while hashing at cost 10', async () => {
    // Architecture regression check, not a benchmark: bcrypt on the main thread stalls the loop for
    // ~50-100 ms per hash, every time. A busy machine can preempt this thread too, but only now and
    // then — so one clean run out of five proves the architecture.
    const busy = createHasher({ size: 1, cost: 10 });
    try {
      await busy.hash('warm-up');
      const lags: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
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
    const p = createHasher({ size: 1, cost: 4 });
    const hash = await p.hash('a');
    const pending = Promise.allSettled([p.hash('b'), p.hash('c'), p.verify('a', hash)]);
    await p.close();
    for (const r of await pending) expect(r.status).toBe('rejected');
    await expect(p.hash('a')).rejects.toThrow(/closed/);
    await expect(p.verify('a', hash)).rejects.toThrow(/closed/);
    await p.close(); // idempotent
  });

  it('rejects bad options', () => {
    expect(() => createHasher({ size: 0 })).toThrow(RangeError);
    expect(() => createHasher({ cost: 3 })).toThrow(RangeError);
    expect(() => createHasher({ cost: 17 })).toThrow(RangeError);
  });
});
