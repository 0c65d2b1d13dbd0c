import { describe, expect, it } from 'vitest';
import { OnceForms } from './once.js';

const clock = {
  t: 0,
  now() {
    return this.t;
  },
};

describe('OnceForms', () => {
  it('acts once per account and token: a concurrent repeat gets the first answer', async () => {
    const once = new OnceForms(clock);
    const token = OnceForms.token();
    let acts = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const act = async () => {
      acts++;
      await gate;
      return { path: `/done?n=${acts}` };
    };
    const first = once.run('alice', token, act);
    const second = once.run('alice', token, act); // the double click, while the first is in flight
    release();
    expect(await Promise.all([first, second])).toEqual([{ path: '/done?n=1' }, { path: '/done?n=1' }]);
    expect(await once.run('alice', token, act)).toEqual({ path: '/done?n=1' }); // a later repeat too
    expect(acts).toBe(1);
    await once.run('bob', token, act); // another account's token is its own
    expect(acts).toBe(2);
  });

  it('acts every time without a well-formed token, and lets a failed act be retried', async () => {
    const once = new OnceForms(clock);
    let acts = 0;
    const act = async () => ++acts;
    await once.run('alice', null, act);
    await once.run('alice', 'short', act);
    expect(acts).toBe(2);
    const token = OnceForms.token();
    await expect(once.run('alice', token, async () => Promise.reject(new Error('store down')))).rejects.toThrow('store down');
    await new Promise((r) => setTimeout(r, 0));
    expect(await once.run('alice', token, act)).toBe(3);
  });

  it('shows kept data once, to the same account and kind, until the TTL', () => {
    const once = new OnceForms(clock);
    const id = once.keep('alice', 'codes', ['a', 'b']);
    expect(once.take('bob', 'codes', id)).toBeNull();
    expect(once.take('alice', 'created', id)).toBeNull();
    expect(once.take('alice', 'codes', id)).toEqual(['a', 'b']);
    expect(once.take('alice', 'codes', id)).toBeNull(); // a reload
    const late = once.keep('alice', 'codes', ['c']);
    clock.t += 10 * 60_000 + 1;
    expect(once.take('alice', 'codes', late)).toBeNull();
    expect(once.take('alice', 'codes', null)).toBeNull();
  });
});
