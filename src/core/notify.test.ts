import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildNotification, cleanText, noticeFor, type NotifySettings } from './notify.js';
import { watchNotifications, type NotificationSink } from './notify-watch.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import type { AuditEvent, Store } from '../store/types.js';

const T = Date.UTC(2026, 0, 15, 9, 30, 0);
const S: NotifySettings = { from: null, portalUrl: 'https://mail.example.com/2fa' };
const ev = (over: Partial<AuditEvent>): AuditEvent => ({
  id: 42,
  ts: T,
  type: 'passcode.create',
  username: 'alice@example.com',
  protocol: null,
  ip: '192.0.2.7',
  passcodeId: 'p1',
  outcome: 'ok',
  reason: null,
  sessionId: null,
  detail: { actor: 'portal' },
  ...over,
});

/** Splits a built message into its header lines and body, checking the line ends on the way. */
function parts(message: string): { headers: Map<string, string>; body: string } {
  expect(message.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/); // no bare CR or LF anywhere
  const [head, ...rest] = message.split('\r\n\r\n');
  const headers = new Map(head!.split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 2)]));
  return { headers, body: rest.join('\r\n\r\n') };
}

describe('finding 3: security notices (message building)', () => {
  const cases: Array<[string, Partial<AuditEvent>, RegExp, RegExp]> = [
    [
      '2FA turned on',
      { type: 'totp.enable', detail: { actor: 'portal', replaced: false } },
      /Two-factor authentication was turned on/,
      /turned on for alice@example\.com in the self-service portal/,
    ],
    [
      '2FA moved to a new phone',
      { type: 'totp.enable', detail: { actor: 'portal', replaced: true } },
      /moved to a new authenticator app/,
      /Codes from the previous app no longer work/,
    ],
    ['2FA turned off', { type: 'totp.disable' }, /turned off/, /turned off for alice@example\.com/],
    [
      'admin reset',
      { type: 'totp.reset', ip: null, detail: { actor: 'cli', removed: true } },
      /reset by an administrator/,
      /removed by an administrator \(command line\)/,
    ],
    [
      'passcode created',
      { detail: { actor: 'api', name: 'Thunderbird laptop', scopes: ['imap', 'smtp'], expiresAt: T + 86_400_000 } },
      /new app passcode/,
      /"Thunderbird laptop".*IMAP \(reading mail\), SMTP \(sending mail\)\. It expires 2026-01-16T09:30:00Z/,
    ],
    [
      'emergency code used',
      { type: '2fa.verify', outcome: 'accept', detail: { actor: 'portal', method: 'emergency', codesLeft: 1 } },
      /emergency code was used/,
      /1 emergency code is left/,
    ],
  ];
  for (const [what, over, subject, text] of cases) {
    it(`builds the notice for: ${what}`, () => {
      const n = buildNotification(ev(over), S)!;
      expect(n.subject).toMatch(subject);
      const { headers, body } = parts(n.message);
      expect(headers.get('subject')).toBe(n.subject);
      expect(body).toMatch(text);
      expect(headers.get('x-mailgate-event')).toBe(over.type ?? 'passcode.create');
      expect(headers.get('auto-submitted')).toBe('auto-generated');
      expect(headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(headers.get('from')).toBe('mailgate <postmaster@example.com>');
      expect(headers.get('to')).toBe('<alice@example.com>');
      expect(headers.get('date')).toBe('Thu, 15 Jan 2026 09:30:00 +0000');
      expect(headers.get('message-id')).toMatch(/^<notice-42-[a-z0-9]+@example\.com>$/);
      expect(body).toContain('When:   2026-01-15T09:30:00Z (UTC)');
      expect(body).toContain('https://mail.example.com/2fa');
      expect(body).toMatch(/tell your mail administrator/);
      if (over.ip === null) expect(body).not.toContain('IP address');
      else expect(body).toContain('From:   IP address 192.0.2.7');
    });
  }

  it('says nothing about events the owner need not hear of', () => {
    expect(noticeFor(ev({ type: 'auth', outcome: 'accept' }))).toBeNull();
    expect(noticeFor(ev({ type: 'totp.enable', outcome: 'reject' }))).toBeNull();
    expect(noticeFor(ev({ type: '2fa.verify', outcome: 'accept', detail: { method: 'totp' } }))).toBeNull();
    expect(noticeFor(ev({ type: 'totp.reset', detail: { actor: 'cli', removed: false } }))).toBeNull(); // nothing was there
    expect(noticeFor(ev({ username: null }))).toBeNull();
  });

  it('neutralises CR/LF and control characters in a passcode name and a client name (no header injection)', () => {
    const n = buildNotification(
      ev({
        ip: '192.0.2.7\r\nBcc: evil@example.net',
        detail: {
          actor: 'portal',
          name: 'laptop\r\nBcc: evil@example.net\r\n\r\nfake body',
          scopes: ['imap\nX-Evil: 1'],
          client: 'Thunder\u0000bird\r\nX-Injected: yes\u202e',
        },
      }),
      S,
    )!;
    const { headers, body } = parts(n.message);
    expect([...headers.keys()]).toEqual([
      'from',
      'to',
      'date',
      'message-id',
      'subject',
      'auto-submitted',
      'x-mailgate-event',
      'mime-version',
      'content-type',
      'content-transfer-encoding',
    ]);
    expect(n.message).not.toMatch(/\r\n(Bcc|X-Evil|X-Injected):/i);
    expect(body).toContain('"laptop Bcc: evil@example.net fake body"');
    expect(body).toContain('Client: Thunder bird X-Injected: yes');
    expect(body).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u202e]/);
  });

  it('keeps a configured From, and localhost for an account without a usable domain', () => {
    expect(parts(buildNotification(ev({}), { ...S, from: 'Security <sec@example.org>' })!.message).headers.get('from')).toBe(
      'Security <sec@example.org>',
    );
    const bare = parts(buildNotification(ev({ username: 'alice' }), S)!.message).headers;
    expect(bare.get('from')).toBe('mailgate <postmaster@localhost>');
    expect(parts(buildNotification(ev({ username: 'a@b>c' }), S)!.message).headers.get('from')).toBe('mailgate <postmaster@localhost>');
  });

  it('cleanText bounds length and flattens separators', () => {
    expect(cleanText('a\u2028b\tc', 10)).toBe('a b c');
    expect(cleanText('x'.repeat(50), 10)).toHaveLength(10);
    expect(cleanText({ not: 'a string' })).toBe('');
  });
});

describe('finding 3: the notice watcher follows the audit log', () => {
  let store: Store;
  const audit = (type: string, over: Partial<AuditEvent> = {}) => store.appendAudit(ev({ id: undefined, type, ...over }));
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  };
  beforeEach(async () => {
    store = await openSqliteStore(':memory:');
  });
  afterEach(async () => {
    await store.close();
  });

  it('starts after the newest event, delivers each later one once, and a hanging delivery does not hold back the next', async () => {
    await audit('passcode.create'); // before start: not re-sent
    const got: string[] = [];
    const failures: string[] = [];
    let hang = true;
    const sink: NotificationSink = {
      async deliver(account, message) {
        const type = /X-Mailgate-Event: (\S+)/.exec(message)![1]!;
        if (type === 'totp.disable' && hang) {
          hang = false;
          return new Promise(() => {});
        } // never settles
        if (account === 'bob@example.com') throw Object.assign(new Error('upstream said no'), { stage: 'login' });
        got.push(`${account} ${type}`);
      },
    };
    const stop = watchNotifications({
      store,
      sink,
      settings: S,
      intervalMs: 10,
      onDeliveryError: (e, i) => failures.push(`${i.account} ${e.message}`),
    });
    try {
      await new Promise((r) => setTimeout(r, 30));
      await audit('totp.disable');
      await audit('auth', { outcome: 'accept' });
      await audit('passcode.create', { username: 'bob@example.com' });
      await audit('totp.enable', { detail: { actor: 'portal', replaced: false } });
      await until(() => got.length >= 1 && failures.length >= 1);
      await new Promise((r) => setTimeout(r, 60)); // several more polls: nothing may come twice
      expect(got).toEqual(['alice@example.com totp.enable']);
      expect(failures).toEqual(['bob@example.com upstream said no']);
    } finally {
      stop();
    }
  });

  it('skips no event when more than a batch arrived between two polls', async () => {
    const got: number[] = [];
    const sink: NotificationSink = {
      async deliver(_a, m) {
        got.push(Number(/notice-(\d+)-/.exec(m)![1]));
      },
    };
    const stop = watchNotifications({ store, sink, settings: S, intervalMs: 10, batch: 3, maxInFlight: 2 });
    try {
      await new Promise((r) => setTimeout(r, 30));
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(await audit('auth'));
        if (i % 2) ids.push(await audit('passcode.create'));
      }
      const expected = (await store.queryAudit({ type: 'passcode.create', limit: 100 })).map((e) => e.id);
      await until(() => got.length >= expected.length);
      await new Promise((r) => setTimeout(r, 40));
      expect(got).toEqual(expected);
    } finally {
      stop();
    }
  });
});
