/**
 * Signing in and out. The main password is checked by the upstream IMAP server (mailgate never
 * stores it); with 2FA on, a TOTP or emergency code is then due. Failures are throttled per
 * client IP + account and per client IP, and a wrong answer never says whether the account exists.
 */
import { appendAudit } from '../../core/audit.js';
import { sourceOf } from '../../core/guard.js';
import { keyedHash } from '../../core/keys.js';
import { UpstreamError } from '../../net/upstream.js';
import { go, preCookie, PRE_COOKIE, render } from '../app.js';
import { cookie } from '../http.js';
import type { Slot } from '../inflight.js';
import { withSlots } from './slots.js';
import type { Ctx, Portal, Route } from '../types.js';
import { signinBody, verifyBody, type SigninValues } from '../views/signin.js';
import type { Notice } from '../views/layout.js';

const NOTICES: Record<string, Notice> = {
  expired: { kind: 'warn', text: 'You were signed out because the page was not used for a while. Sign in again to continue.' },
  signedout: { kind: 'ok', text: 'You are signed out.' },
};

/** "8 seconds" / "5 minutes", for throttling messages. */
export function waitText(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 90 ? `${s} second${s === 1 ? '' : 's'}` : `${Math.ceil(s / 60)} minutes`;
}

export function audit(
  p: Portal,
  c: Ctx,
  type: string,
  username: string | null,
  outcome: string,
  reason: string | null,
  detail: Record<string, unknown> = {},
): Promise<number> {
  return appendAudit(p.deps.store, p.deps.clock, { type, username, ip: c.ip, outcome, reason, detail: { actor: 'portal', ...detail } });
}

function showSignin(
  p: Portal,
  c: Ctx,
  status: number,
  v: SigninValues,
  notice: Notice | null = null,
  headers: Record<string, string> = {},
): void {
  const nonce = p.pre.newNonce();
  render(p, c, status, 'Sign in', signinBody(p.base, p.pre.token(nonce), v), notice, { ...headers, 'Set-Cookie': preCookie(p, nonce) });
}

async function signinPost(p: Portal, c: Ctx): Promise<void> {
  const username = (c.form.get('username') ?? '').trim();
  const password = c.form.get('password') ?? '';
  // The account as the mail fronts name it: 2FA, the session and the password check all use it, so
  // "alice" and "alice@example.com" cannot be two portal identities of one mailbox.
  const account = p.deps.identity.canonical(username);
  if (!account || !password) {
    // The error goes where the fix is: the address when it is missing (or not one we serve).
    const error = !username
      ? 'Enter your email address.'
      : !account
        ? 'Enter your full email address, like name@example.com.'
        : 'Enter your password.';
    showSignin(p, c, 400, { username, error, errorOn: account ? 'password' : 'username' });
    return;
  }
  const wait = await p.guard.waitMs('portal-password', c.ip, account);
  if (wait > 0) {
    await audit(p, c, 'portal.signin', account, 'reject', 'throttled');
    showSignin(p, c, 429, { username, error: `Too many failed attempts. Wait ${waitText(wait)}, then try again.` }, null, {
      'Retry-After': String(Math.ceil(wait / 1000)),
    });
    return;
  }
  let ok: boolean;
  try {
    ok = await p.deps.imapLogin(account, password, c.ip);
  } catch (e) {
    p.deps.log.warn(
      { stage: e instanceof UpstreamError ? e.stage : 'internal', err: (e as Error).message },
      'portal: cannot check a password with the IMAP server',
    );
    await audit(p, c, 'portal.signin', account, 'error', 'upstream-unavailable');
    showSignin(p, c, 503, {
      username,
      error:
        'The mail server cannot be reached to check your password right now. Try again in a few minutes; if it keeps happening, tell your mail administrator.',
    });
    return;
  }
  if (!ok) {
    await p.guard.fail('portal-password', c.ip, account, keyedHash(p.deps.keys.cache, 'portal-password', account, password).slice(0, 16));
    await audit(p, c, 'portal.signin', account, 'reject', 'wrong-password');
    showSignin(p, c, 400, {
      username,
      error: 'That email address and password do not match. Check both and try again. Use your main mail password, not an app passcode.',
    });
    return;
  }
  await p.guard.succeed('portal-password', c.ip, account);
  if (c.session) await p.sessions.end(c.session);
  const enabled = (await p.tf.status(account)).enabled;
  const { setCookie } = await p.sessions.start(account, enabled ? 'password' : 'complete', c.ip);
  await audit(p, c, 'portal.signin', account, 'accept', null, { secondFactorDue: enabled });
  const clearPre = cookie(PRE_COOKIE, '', { path: p.base || '/', secure: p.secure, maxAgeSeconds: 0 });
  go(p, c, enabled ? '/verify' : '/', { 'Set-Cookie': [setCookie, clearPre] });
}

/** Password checks in flight from one source (an address, an IPv6 /64) across all accounts. */
const SIGNIN_PER_SOURCE = 4;
export const BUSY = 'Your previous attempt is still being checked. Wait a moment, then try again.';

/** One password check at a time per client and account, a few per client. */
function signinSlots(p: Portal, c: Ctx): Slot[] {
  const account = p.deps.identity.canonical(c.form.get('username') ?? '');
  return [[`signin|${sourceOf(c.ip)}`, SIGNIN_PER_SOURCE], ...(account ? [[`signin|${c.ip}|${account}`, 1] as const] : [])];
}

async function signinBusy(p: Portal, c: Ctx): Promise<void> {
  await audit(p, c, 'portal.signin', p.deps.identity.canonical(c.form.get('username') ?? ''), 'reject', 'throttled', { concurrent: true });
  showSignin(p, c, 429, { username: (c.form.get('username') ?? '').trim(), error: BUSY }, null, { 'Retry-After': '1' });
}

/** One code check at a time per account: a 6-digit code must not be guessed 1000 times in parallel. */
export const codeSlots = (_p: Portal, c: Ctx): Slot[] => [[`2fa|${c.session!.username}`, 1]];

const VERIFY_ERRORS: Record<string, string> = {
  'wrong-code': 'That code is not right. Enter the 6 digits your app shows now (or one of your unused emergency codes).',
  replayed: 'That code was already used. Wait until your app shows a new code, then enter the new one.',
  'used-code': 'That emergency code was already used: each one works only once. Use another one.',
};

async function verifyPost(p: Portal, c: Ctx): Promise<void> {
  const s = c.session!;
  const wait = await p.guard.waitMs('portal-code', c.ip, s.username);
  if (wait > 0) {
    render(
      p,
      c,
      429,
      'Enter your code',
      verifyBody(p.base, s.csrf, s.username, `Too many wrong codes. Wait ${waitText(wait)}, then try again.`),
      null,
      { 'Retry-After': String(Math.ceil(wait / 1000)) },
    );
    return;
  }
  const r = await p.tf.verify(s.username, c.form.get('code') ?? '', { actor: 'portal', ip: c.ip });
  if (!r.ok && r.reason === 'not-enabled') {
    // reset by an admin meanwhile: start over
    await p.sessions.end(s);
    go(p, c, '/signin', { 'Set-Cookie': p.sessions.clearCookie() });
    return;
  }
  if (!r.ok) {
    await p.guard.fail('portal-code', c.ip, s.username);
    render(p, c, 400, 'Enter your code', verifyBody(p.base, s.csrf, s.username, VERIFY_ERRORS[r.reason] ?? VERIFY_ERRORS['wrong-code']!));
    return;
  }
  await p.guard.succeed('portal-code', c.ip, s.username);
  const { setCookie } = await p.sessions.elevate(s);
  go(p, c, r.method === 'emergency' ? `/?notice=emergency&left=${r.codesLeft}` : '/', { 'Set-Cookie': setCookie });
}

export const authRoutes: Route[] = [
  {
    method: 'GET',
    path: '/signin',
    access: 'none',
    async run(p, c) {
      if (c.session) return go(p, c, c.session.stage === 'complete' ? '/' : '/verify');
      showSignin(p, c, 200, {}, NOTICES[c.query.get('notice') ?? ''] ?? null);
    },
  },
  { method: 'POST', path: '/signin', access: 'none', run: withSlots(signinSlots, signinBusy, signinPost) },
  {
    method: 'GET',
    path: '/verify',
    access: 'pending',
    async run(p, c) {
      render(p, c, 200, 'Enter your code', verifyBody(p.base, c.session!.csrf, c.session!.username, null));
    },
  },
  {
    method: 'POST',
    path: '/verify',
    access: 'pending',
    run: withSlots(
      codeSlots,
      async (p, c) =>
        render(p, c, 429, 'Enter your code', verifyBody(p.base, c.session!.csrf, c.session!.username, BUSY), null, { 'Retry-After': '1' }),
      verifyPost,
    ),
  },
  {
    method: 'POST',
    path: '/signout',
    access: 'any',
    async run(p, c) {
      await p.sessions.end(c.session!);
      await audit(p, c, 'portal.signout', c.session!.username, 'ok', null);
      go(p, c, '/signin?notice=signedout', { 'Set-Cookie': p.sessions.clearCookie() });
    },
  },
];
