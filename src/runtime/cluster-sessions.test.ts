import { describe, expect, it } from 'vitest';
import { type LiveSession, SessionRegistry } from '../core/sessions.js';
import {
  RemoteCounts,
  type RemoteSessions,
  reportSessions,
  SessionTally,
  type SessionsReport,
  type Timers,
  throttle,
} from './cluster-sessions.js';

/** Timers that only move when the test says so. */
function fakeTimers(): Timers & { advance(ms: number): void; pending(): number } {
  let now = 1_000;
  let queue: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t = { at: now + ms, fn };
      queue.push(t);
      return t;
    },
    clearTimeout(t) {
      queue = queue.filter((q) => q !== t);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        const next = queue.filter((q) => q.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        queue = queue.filter((q) => q !== next);
        now = next.at;
        next.fn();
      }
      now = end;
    },
    pending: () => queue.length,
  };
}

let n = 0;
const session = (account: string, passcodeId: string | null): LiveSession => ({
  id: `s${++n}`,
  account,
  passcodeId,
  protocol: 'imap',
  remoteIp: '127.0.0.1',
  since: 0,
  close: () => {},
});

describe('throttle', () => {
  it('runs once soon after a burst, then at most once per interval', () => {
    const timers = fakeTimers();
    let runs = 0;
    const t = throttle(() => runs++, 200, timers);
    for (let i = 0; i < 1000; i++) t.trigger();
    timers.advance(0);
    expect(runs).toBe(1);
    t.trigger();
    timers.advance(199);
    expect(runs).toBe(1);
    timers.advance(1);
    expect(runs).toBe(2);
    timers.advance(1_000);
    t.trigger();
    timers.advance(0); // quiet long enough: at once
    expect(runs).toBe(3);
    t.trigger();
    t.cancel();
    timers.advance(1_000);
    expect(runs).toBe(3);
  });
});

describe('reportSessions (a worker other than 0)', () => {
  it('sends the changed keys only, with their current counts, at most once per interval', () => {
    const timers = fakeTimers();
    const r = new SessionRegistry();
    const sent: SessionsReport[] = [];
    const stop = reportSessions({ registry: r, send: (m) => sent.push(m), ms: 200, timers });
    const offs = Array.from({ length: 500 }, () => r.register(session('alice', 'p1'))); // a login storm
    r.register(session('bob', null));
    timers.advance(0);
    expect(sent).toEqual([
      {
        mg: 'sessions',
        account: [
          ['alice', 500],
          ['bob', 1],
        ],
        passcode: [['p1', 500]],
      },
    ]);
    for (const off of offs) off();
    timers.advance(100);
    expect(sent).toHaveLength(1); // still within the interval
    timers.advance(100);
    expect(sent[1]).toEqual({ mg: 'sessions', account: [['alice', 0]], passcode: [['p1', 0]] });
    stop();
    r.register(session('carol', null));
    timers.advance(1_000);
    expect(sent).toHaveLength(2);
  });

  it('survives a send that throws (supervisor gone)', () => {
    const timers = fakeTimers();
    const r = new SessionRegistry();
    reportSessions({
      registry: r,
      send: () => {
        throw new Error('channel closed');
      },
      timers,
    });
    r.register(session('alice', 'p1'));
    expect(() => timers.advance(0)).not.toThrow();
  });
});

describe('SessionTally (supervisor) and RemoteCounts (worker 0)', () => {
  const setup = () => {
    const timers = fakeTimers();
    const remote = new RemoteCounts();
    const sent: RemoteSessions[] = [];
    const tally = new SessionTally({
      sendToPortal: (m) => {
        sent.push(m);
        remote.handle(m);
      },
      ms: 200,
      timers,
    });
    return { timers, remote, sent, tally };
  };
  const rep = (account: Array<[string, number]>, passcode: Array<[string, number]> = []) => ({ mg: 'sessions', account, passcode });

  it('sums the other workers, sends worker 0 only changed keys, throttled', () => {
    const { timers, remote, sent, tally } = setup();
    expect(tally.handle(1, rep([['alice', 2]], [['p1', 2]]))).toBe(true);
    expect(
      tally.handle(
        2,
        rep(
          [
            ['alice', 3],
            ['bob', 1],
          ],
          [['p1', 3]],
        ),
      ),
    ).toBe(true);
    timers.advance(0);
    expect(sent).toHaveLength(1); // two reports, one message
    expect([
      remote.count({ account: 'alice' }),
      remote.count({ passcodeId: 'p1' }),
      remote.count({ account: 'bob' }),
      remote.count({}),
    ]).toEqual([5, 5, 1, 6]);
    tally.handle(1, rep([['alice', 0]], [['p1', 0]]));
    timers.advance(0);
    expect(sent).toHaveLength(1);
    timers.advance(200);
    expect(sent[1]).toEqual({ mg: 'sessions-remote', full: false, account: [['alice', 3]], passcode: [['p1', 3]] });
    expect([remote.count({ account: 'alice' }), remote.count({})]).toEqual([3, 4]);
  });

  it("drops a dead worker's counts, and gives a new worker 0 every sum at once", () => {
    const { timers, remote, sent, tally } = setup();
    tally.handle(1, rep([['alice', 2]], [['p1', 2]]));
    tally.handle(2, rep([['bob', 4]]));
    timers.advance(0);
    tally.drop(2);
    timers.advance(200);
    expect([remote.count({ account: 'alice' }), remote.count({ account: 'bob' }), remote.count({})]).toEqual([2, 0, 2]);
    const fresh = new RemoteCounts(); // worker 0 replaced: knows nothing
    fresh.handle({ mg: 'sessions-remote', full: false, account: [['ghost', 9]], passcode: [] });
    tally.portalReady();
    const full = sent.at(-1)!;
    expect(full).toEqual({ mg: 'sessions-remote', full: true, account: [['alice', 2]], passcode: [['p1', 2]] });
    fresh.handle(full);
    expect([fresh.count({ account: 'alice' }), fresh.count({ account: 'ghost' }), fresh.count({})]).toEqual([2, 0, 2]);
    tally.drop(7); // never reported: nothing to send
    timers.advance(1_000);
    expect(sent.at(-1)).toBe(full);
  });

  it("ignores worker 0's own reports (it counts its sessions itself)", () => {
    const { timers, remote, tally } = setup();
    expect(tally.handle(0, rep([['alice', 5]]))).toBe(true);
    timers.advance(1_000);
    expect(remote.count({ account: 'alice' })).toBe(0);
  });

  it('ignores malformed and foreign messages without throwing', () => {
    const { timers, remote, tally } = setup();
    const bad: unknown[] = [
      { mg: 'sessions' },
      rep([['alice', -1]]),
      rep([['alice', 1.5]]),
      rep([['alice', Number.NaN]]),
      rep([[7, 1]] as never),
      rep([['alice']] as never),
      rep([['x'.repeat(2000), 1]]),
      { mg: 'sessions', account: { alice: 1 }, passcode: [] },
    ];
    for (const m of bad) expect(tally.handle(1, m)).toBe(true);
    expect(tally.handle(1, { mg: 'guard', id: 1 })).toBe(false);
    for (const m of [undefined, null, 'sessions']) expect(tally.handle(1, m)).toBe(false);
    timers.advance(1_000);
    expect(tally.sum('account', 'alice')).toBe(0);
    expect(remote.handle({ mg: 'sessions-remote', full: true, account: [['alice', 'many']], passcode: [] })).toBe(true);
    expect(remote.handle({ mg: 'reload' })).toBe(false);
    expect(remote.count({})).toBe(0);
  });

  it('keeps an account named __proto__ a plain key', () => {
    const { timers, remote, tally } = setup();
    tally.handle(1, JSON.parse('{"mg":"sessions","account":[["__proto__",2]],"passcode":[]}'));
    timers.advance(0);
    expect([remote.count({ account: '__proto__' }), remote.count({ account: 'toString' })]).toEqual([2, 0]);
  });
});
