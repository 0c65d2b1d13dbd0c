import { describe, expect, it } from 'vitest';
import { datePassed, entryFor, modeAt, type RolloutEntry } from './rollout.js';

const JAN15 = Date.UTC(2027, 0, 15);
const DAY = 86_400_000;
const policy: RolloutEntry[] = [
  { target: 'example.net', mode: 'enforce', from: JAN15 },
  { target: 'example.org', mode: 'observe', from: null },
  { target: 'vip@example.net', mode: 'enforce', from: null },
  { target: 'tester@example.com', mode: 'observe', from: null },
  { target: 'example.com', mode: 'enforce', from: null },
];

describe('rollout mode', () => {
  it('a dated entry observes before its date and enforces from the very millisecond on', () => {
    expect(modeAt(policy, null, 'a@example.net', JAN15 - DAY)).toEqual({ mode: 'observe', from: JAN15, source: 'policy' });
    expect(modeAt(policy, null, 'a@example.net', JAN15 - 1).mode).toBe('observe');
    expect(modeAt(policy, null, 'a@example.net', JAN15)).toEqual({ mode: 'enforce', from: JAN15, source: 'policy' });
    expect(modeAt(policy, null, 'a@example.net', JAN15 + 365 * DAY).mode).toBe('enforce');
  });

  it('observe stays observe at any time; an undated enforce is enforce at any time; unlisted is off', () => {
    for (const t of [0, JAN15, JAN15 * 2]) {
      expect(modeAt(policy, null, 'a@example.org', t)).toEqual({ mode: 'observe', from: null, source: 'policy' });
      expect(modeAt(policy, null, 'a@example.com', t)).toEqual({ mode: 'enforce', from: null, source: 'policy' });
      expect(modeAt(policy, null, 'a@elsewhere.test', t)).toEqual({ mode: 'off', from: null, source: 'none' });
    }
    expect(modeAt(policy, null, 'a@sub.example.com', 0).mode).toBe('off'); // a domain entry is not its subdomains
  });

  it("an account's own entry beats its domain's, whichever comes first in the list", () => {
    expect(modeAt(policy, null, 'vip@example.net', JAN15 - DAY).mode).toBe('enforce'); // own entry listed after the domain's
    expect(modeAt(policy, null, 'tester@example.com', 0).mode).toBe('observe'); // own entry listed before the domain's
    expect(entryFor([...policy].reverse(), 'vip@example.net')?.from).toBeNull();
  });

  it('the per-account override beats every entry (enforce, observe, dated), both ways', () => {
    expect(modeAt(policy, true, 'a@example.org', 0)).toEqual({ mode: 'enforce', from: null, source: 'override' });
    expect(modeAt(policy, true, 'a@elsewhere.test', 0).mode).toBe('enforce');
    expect(modeAt(policy, true, 'a@example.net', JAN15 - DAY).mode).toBe('enforce');
    expect(modeAt(policy, false, 'a@example.com', 0)).toEqual({ mode: 'off', from: null, source: 'override' });
    expect(modeAt(policy, false, 'a@example.net', JAN15 + DAY).mode).toBe('off');
    expect(modeAt(policy, false, 'a@example.org', 0).mode).toBe('off');
  });

  it('plain strings (the old form) mean enforce now; "all" enforces everyone', () => {
    expect(modeAt(['example.com', 'carol@example.org'], null, 'carol@example.org', 0).mode).toBe('enforce');
    expect(modeAt(['example.com'], null, 'x@example.org', 0).mode).toBe('off');
    expect(modeAt('all', null, 'anyone@anywhere.test', 0)).toEqual({ mode: 'enforce', from: null, source: 'policy' });
    expect(modeAt('all', false, 'svc@example.com', 0).mode).toBe('off');
  });

  it('datePassed says when a dated entry switched within (since, now], once', () => {
    expect(datePassed(policy, JAN15 - 500, JAN15 - 1)).toBe(false);
    expect(datePassed(policy, JAN15 - 500, JAN15)).toBe(true);
    expect(datePassed(policy, JAN15, JAN15 + 500)).toBe(false); // already counted by the tick that reached it
    expect(datePassed([{ target: 'x.test', mode: 'observe', from: null }], 0, JAN15 * 2)).toBe(false);
    expect(datePassed('all', 0, JAN15 * 2)).toBe(false);
  });
});
