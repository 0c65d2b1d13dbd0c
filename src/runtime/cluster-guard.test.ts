import { describe, expect, it } from 'vitest';
import { AuthGuard, DEFAULT_GUARD } from '../core/guard.js';
import { answerGuard, type GuardRequest, type GuardResponse, ipcGuard } from './cluster-guard.js';

const opts = { ...DEFAULT_GUARD, blockAfter: 4 };
const clock = { now: () => 1_000_000 };

/** Two workers wired to one primary guard through an in-process channel (JSON, like cluster IPC). */
function world(o: { timeoutMs?: number } = {}) {
  const primary = new AuthGuard(clock, opts);
  const mode = { drop: false, connected: true };
  const sent: GuardRequest[] = [];
  const fallbacks: string[] = [];
  const links: boolean[] = [];
  const worker = () => {
    const local = new AuthGuard(clock, opts);
    const g = ipcGuard({
      local,
      timeoutMs: o.timeoutMs ?? 50,
      onFallback: (op) => fallbacks.push(op),
      onLink: (up) => links.push(up),
      channel: {
        connected: () => mode.connected,
        send: (msg) => {
          sent.push(msg);
          if (mode.drop) return;
          const wire = JSON.parse(JSON.stringify(msg)) as unknown;
          setImmediate(() => answerGuard(primary, wire, (r) => g.handle(JSON.parse(JSON.stringify(r)))));
        },
      },
    });
    return { g, local };
  };
  return { primary, mode, sent, fallbacks, links, worker };
}

describe('ipcGuard (worker side) with answerGuard (primary side)', () => {
  it('counts failures from two workers as one: the 4th in total blocks the source on both', async () => {
    const w = world();
    const [a, b] = [w.worker(), w.worker()];
    for (let i = 0; i < 4; i++) await (i % 2 ? b : a).g.failure('192.0.2.9', 'alice@example.com', `fp${i}`);
    expect(a.local.blocks()).toEqual([]); // neither worker alone saw enough to block
    expect(await a.g.check('192.0.2.9', 'bob@example.com')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(await b.g.check('192.0.2.9', 'alice@example.com')).toMatchObject({ kind: 'blocked', reason: 'source-blocked' });
    expect(w.primary.blocks().map((x) => x.source)).toEqual(['192.0.2.9']);
    expect(w.fallbacks).toEqual([]);
  });

  it('mirrors a block the primary reported, so it holds when the primary goes silent', async () => {
    const w = world();
    const a = w.worker();
    for (let i = 0; i < 4; i++) await a.g.failure('192.0.2.7', null, `fp${i}`);
    await a.g.check('192.0.2.7', null); // learns the block
    w.mode.drop = true;
    expect(await a.g.check('192.0.2.7', null)).toMatchObject({ kind: 'blocked' });
  });

  it('answers from local state after the timeout, then stops waiting until the primary answers again', async () => {
    const w = world({ timeoutMs: 30 });
    const a = w.worker();
    w.mode.drop = true;
    const t0 = Date.now();
    expect(await a.g.failure('192.0.2.5', null, 'x')).toBe(opts.baseDelayMs); // local count: 1st failure
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(a.g.up).toBe(false);
    const t1 = Date.now();
    expect(await a.g.check('192.0.2.5', null)).toEqual({ kind: 'allow' });
    expect(Date.now() - t1).toBeLessThan(20); // no second wait while the primary is silent
    expect(w.fallbacks).toEqual(['failure', 'check']);
    expect(w.sent.map((m) => m.op)).toEqual(['failure', 'check']); // still sent: a slow primary keeps counting
    w.mode.drop = false;
    await a.g.failure('192.0.2.5', null, 'y'); // answered at once (not waited for), its answer marks the primary up
    await new Promise((r) => setTimeout(r, 10));
    expect(a.g.up).toBe(true);
    expect(w.links).toEqual([false, true]);
  });

  it('ignores answers with unknown or late ids and non-guard messages', async () => {
    const w = world();
    const a = w.worker();
    expect(a.g.handle({ mg: 'guard-res', id: 999_999, value: { kind: 'blocked', until: 1 } })).toBe(true);
    expect(a.g.handle({ mg: 'something-else' })).toBe(false);
    expect(a.g.handle('guard-res')).toBe(false);
    expect(a.g.handle(null)).toBe(false);
    expect(await a.g.check('192.0.2.1', null)).toEqual({ kind: 'allow' });
  });

  it('falls back at once when the channel to the primary is gone (dead primary)', async () => {
    const w = world({ timeoutMs: 5_000 });
    const a = w.worker();
    w.mode.connected = false;
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) await a.g.failure('192.0.2.3', null, `fp${i}`);
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await a.g.check('192.0.2.3', null)).toMatchObject({ kind: 'blocked' }); // its own count still blocks
    expect(w.sent).toEqual([]);
    expect(a.g.up).toBe(false);
  });

  it('drops a mirrored block when the primary broadcasts its unblock', async () => {
    const w = world();
    const a = w.worker();
    for (let i = 0; i < 4; i++) await a.g.failure('192.0.2.8', null, `fp${i}`);
    await a.g.check('192.0.2.8', null);
    expect(w.primary.unblock('192.0.2.8')).toBe(true);
    expect(a.g.handle({ mg: 'guard-unblocked', source: '192.0.2.8' })).toBe(true);
    expect(await a.g.check('192.0.2.8', null)).toEqual({ kind: 'allow' });
  });
});

describe('answerGuard (primary side)', () => {
  const ask = (msg: unknown) => {
    const out: GuardResponse[] = [];
    const handled = answerGuard(new AuthGuard(clock, opts), msg, (r) => out.push(r));
    return { handled, out };
  };
  it('answers unknown steps and malformed arguments with an error, never throwing', () => {
    expect(ask({ mg: 'guard', id: 1, op: 'constructor', args: [] }).out).toEqual([
      { mg: 'guard-res', id: 1, err: 'unknown guard step constructor' },
    ]);
    expect(ask({ mg: 'guard', id: 2, op: 'check', args: [42, null] }).out).toEqual([
      { mg: 'guard-res', id: 2, err: 'bad arguments for check' },
    ]);
    expect(ask({ mg: 'guard', id: 3, op: 'waitMs', args: ['__proto__', '1.2.3.4', null] }).out[0]).toHaveProperty('err');
    expect(ask({ mg: 'guard', id: 4, op: 'check', args: 'x' }).out[0]).toHaveProperty('err');
    expect(ask({ mg: 'guard', op: 'check', args: [] })).toEqual({ handled: true, out: [] }); // no id: nobody to answer
    expect(ask({ mg: 'metrics-req', id: 5 })).toEqual({ handled: false, out: [] });
  });
  it('answers a valid step with the guard value', () => {
    expect(ask({ mg: 'guard', id: 7, op: 'check', args: ['192.0.2.1', 'a@example.com'] }).out).toEqual([
      { mg: 'guard-res', id: 7, value: { kind: 'allow' } },
    ]);
    expect(ask({ mg: 'guard', id: 8, op: 'success', args: ['192.0.2.1', 'a@example.com'] }).out).toEqual([
      { mg: 'guard-res', id: 8, value: null },
    ]);
  });
});
