import { describe, expect, it } from 'vitest';
import { InFlight } from './inflight.js';

describe('InFlight slots', () => {
  it('refuses past the limit of any key, takes nothing when refusing, frees on release', () => {
    const f = new InFlight();
    const a = f.acquire([
      ['ip|alice', 1],
      ['ip', 2],
    ]);
    expect(a).not.toBeNull();
    expect(
      f.acquire([
        ['ip|alice', 1],
        ['ip', 2],
      ]),
    ).toBeNull(); // same account: one at a time
    const b = f.acquire([
      ['ip|bob', 1],
      ['ip', 2],
    ]);
    expect(b).not.toBeNull();
    expect(
      f.acquire([
        ['ip|carol', 1],
        ['ip', 2],
      ]),
    ).toBeNull(); // the source is full
    a!();
    a!(); // a second release frees nothing more
    const c = f.acquire([
      ['ip|carol', 1],
      ['ip', 2],
    ]);
    expect(c).not.toBeNull();
    expect(
      f.acquire([
        ['ip|dave', 1],
        ['ip', 2],
      ]),
    ).toBeNull();
    b!();
    c!();
    expect(f.size).toBe(0);
  });
});
