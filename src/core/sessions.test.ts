import { describe, expect, it } from 'vitest';
import { type LiveSession, SessionRegistry } from './sessions.js';

let n = 0;
const session = (account: string, passcodeId: string | null, closed: string[] = []): LiveSession => {
  const id = `s${++n}`;
  return { id, account, passcodeId, protocol: 'imap', remoteIp: '127.0.0.1', since: 0, close: (r) => closed.push(`${id}:${r}`) };
};

describe('SessionRegistry counts', () => {
  it('counts by account and by passcode as sessions come and go, each session once', () => {
    const r = new SessionRegistry();
    const offA = r.register(session('alice', 'p1'));
    r.register(session('alice', 'p1'));
    r.register(session('alice', null));
    r.register(session('bob', 'p2'));
    expect([r.count({ account: 'alice' }), r.count({ passcodeId: 'p1' }), r.count({ passcodeId: 'p2' }), r.count()]).toEqual([3, 2, 1, 4]);
    expect(r.count({ account: 'alice', passcodeId: 'p1' })).toBe(2);
    offA();
    offA(); // a second unregister (socket close after close) changes nothing
    expect([r.count({ account: 'alice' }), r.count({ passcodeId: 'p1' }), r.count()]).toEqual([2, 1, 3]);
    expect(r.closeByPasscode('p1', 'revoked')).toBe(1);
    expect([r.count({ account: 'alice' }), r.count({ passcodeId: 'p1' }), r.count({ account: 'nobody' })]).toEqual([1, 0, 0]);
    r.closeAll('bye');
    expect([r.count(), r.count({ account: 'bob' }), r.count({ passcodeId: 'p2' })]).toEqual([0, 0, 0]);
  });

  it('the unregister of a session closed by passcode does not uncount a later one of the same passcode', () => {
    const r = new SessionRegistry();
    const off = r.register(session('alice', 'p1'));
    r.closeByPasscode('p1', 'revoked');
    r.register(session('alice', 'p1'));
    off(); // the first socket's close arrives late
    expect(r.count({ passcodeId: 'p1' })).toBe(1);
  });

  it('reports each count change, down to 0, to its listeners until they unsubscribe', () => {
    const r = new SessionRegistry();
    const seen: string[] = [];
    const off = r.onCountChange((dim, key, k) => seen.push(`${dim}:${key}=${k}`));
    const s = r.register(session('alice', 'p1'));
    r.register(session('bob', null));
    s();
    off();
    r.register(session('carol', 'p3'));
    expect(seen).toEqual(['account:alice=1', 'passcode:p1=1', 'account:bob=1', 'account:alice=0', 'passcode:p1=0']);
  });

  it('adds a remote source in count() but not in localCount() or list()', () => {
    const r = new SessionRegistry();
    r.register(session('alice', 'p1'));
    const asked: unknown[] = [];
    r.setRemote({
      count: (f) => {
        asked.push(f);
        return f.passcodeId === 'p1' ? 5 : 7;
      },
    });
    expect([r.count({ passcodeId: 'p1' }), r.count({ account: 'alice' }), r.count()]).toEqual([6, 8, 8]);
    expect([r.localCount({ passcodeId: 'p1' }), r.list().length]).toEqual([1, 1]);
    expect(asked).toEqual([{ passcodeId: 'p1' }, { account: 'alice' }, {}]);
    r.setRemote(null);
    expect(r.count({ account: 'alice' })).toBe(1);
  });
});
