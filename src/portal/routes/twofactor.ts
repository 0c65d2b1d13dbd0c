/** The start page, turning 2FA on (or moving it to a new phone) and off, and emergency codes. */
import { go, render } from '../app.js';
import { withSlots } from './slots.js';
import type { Ctx, Portal, Route } from '../types.js';
import { homeBody, homeNotice } from '../views/home.js';
import type { Answer } from '../once.js';
import { codesBody, codesShownBody, disableBody, enableBody, newCodesBody, qrSvg } from '../views/twofactor.js';
import { BUSY, codeSlots, waitText } from './auth.js';

const who = (c: Ctx) => ({ actor: 'portal', ip: c.ip });

/** An enrolment-code field is shown (and its error, if any) when the first enrolment needs one. */
async function showEnable(p: Portal, c: Ctx, status: number, error: string | null, enrolError: string | null = null): Promise<void> {
  const user = c.session!.username;
  const e = (await p.tf.pendingEnrolment(user)) ?? (await p.tf.beginEnrolment(user));
  const replacing = (await p.tf.status(user)).enabled;
  const enrol = !replacing && p.tf.firstEnrolment === 'code' ? { error: enrolError } : null;
  render(
    p,
    c,
    status,
    replacing ? 'Move to a new phone' : 'Turn on two-factor authentication',
    enableBody(p.base, c.session!.csrf, user, e, await qrSvg(e.uri), error, replacing, enrol),
  );
}

const ENABLE_ERRORS = {
  'no-enrolment': 'This setup took too long or was restarted in another window. Scan the new code below and try again.',
  'wrong-code':
    'That code did not work. Enter the code the app shows now; if it still fails, check that the time on your phone is set automatically.',
  // The same words whether no code was issued, it is wrong, expired or used: nothing to learn here.
  'enrol-code':
    'That enrolment code is not right or has expired. Check it against what your mail administrator gave you, or ask them for a new one.',
};

async function enablePost(p: Portal, c: Ctx): Promise<void> {
  const user = c.session!.username;
  if (c.form.get('action') === 'restart') {
    await p.tf.beginEnrolment(user);
    return go(p, c, '/enable');
  }
  // Wrong TOTP and enrolment codes are slowed down per account like wrong codes on /disable.
  const wait = await p.guard.waitMs('portal-code', c.ip, user);
  if (wait > 0) return showEnable(p, c, 429, `Too many wrong codes. Wait ${waitText(wait)}, then try again.`);
  // A double click posts twice: the second waits for the first's answer instead of finding the
  // enrolment gone ("took too long") and hiding the emergency codes the first one made.
  const r = await p.once.run(user, c.form.get('_once'), () => confirmEnable(p, c, user));
  if ('path' in r) return go(p, c, r.path, r.headers);
  // Each answer gets its own one-time reveal: the browser may fetch the first one's page and drop it.
  if ('codes' in r) return go(p, c, `/enabled?r=${p.once.keep(user, 'codes', r.codes)}`, { 'Set-Cookie': r.setCookie });
  return r.reason === 'enrol-code' ? showEnable(p, c, 400, null, ENABLE_ERRORS[r.reason]) : showEnable(p, c, 400, ENABLE_ERRORS[r.reason]);
}

type Enabled = Answer | { codes: string[]; setCookie: string } | { reason: keyof typeof ENABLE_ERRORS };

async function confirmEnable(p: Portal, c: Ctx, user: string): Promise<Enabled> {
  const r = await p.tf.confirmEnrolment(user, c.form.get('code') ?? '', who(c), c.form.get('enrol_code') ?? '');
  if (!r.ok) {
    if (r.reason !== 'no-enrolment') await p.guard.fail('portal-code', c.ip, user);
    return { reason: r.reason };
  }
  await p.guard.succeed('portal-code', c.ip, user);
  if (r.replaced) return { path: '/?notice=phone-changed' };
  // Sessions signed in with the main password alone (a thief's, opened before the owner enrolled)
  // must not carry over into an account that now has 2FA: end them all, this one gets a new id.
  await p.deps.store.deletePortalSessionsOf(user);
  const fresh = await p.sessions.start(user, 'complete', c.ip);
  return { codes: r.codes, setCookie: fresh.setCookie };
}

/** The emergency codes kept by a POST, shown by the GET it redirected to — once. */
async function showCodes(p: Portal, c: Ctx, first: boolean): Promise<void> {
  const user = c.session!.username;
  const codes = p.once.take<string[]>(user, 'codes', c.query.get('r'));
  const title = first ? 'Two-factor authentication is on' : 'Your new emergency codes';
  render(p, c, 200, title, codes ? newCodesBody(p.base, user, p.tf.issuer, codes, first) : codesShownBody(p.base, first));
}

const DISABLE_ERRORS: Record<string, string> = {
  'wrong-code': 'That code is not right. Enter the 6 digits your app shows now.',
  replayed: 'That code was already used. Wait until your app shows a new code, then enter the new one.',
};

async function disablePost(p: Portal, c: Ctx): Promise<void> {
  const user = c.session!.username;
  const wait = await p.guard.waitMs('portal-code', c.ip, user);
  const status = await p.tf.status(user);
  if (wait > 0)
    return render(
      p,
      c,
      429,
      'Turn off two-factor authentication',
      disableBody(p.base, c.session!.csrf, status, `Too many wrong codes. Wait ${waitText(wait)}, then try again.`),
    );
  const r = await p.tf.disable(user, c.form.get('code') ?? '', who(c));
  if (r.ok) {
    await p.guard.succeed('portal-code', c.ip, user);
    return go(p, c, '/?notice=2fa-off');
  }
  if (r.reason === 'not-enabled') return go(p, c, '/');
  if (r.reason !== 'required') await p.guard.fail('portal-code', c.ip, user);
  render(p, c, 400, 'Turn off two-factor authentication', disableBody(p.base, c.session!.csrf, status, DISABLE_ERRORS[r.reason] ?? null));
}

async function disableBusy(p: Portal, c: Ctx): Promise<void> {
  const status = await p.tf.status(c.session!.username);
  render(p, c, 429, 'Turn off two-factor authentication', disableBody(p.base, c.session!.csrf, status, BUSY), null, { 'Retry-After': '1' });
}

export const twoFactorRoutes: Route[] = [
  {
    method: 'GET',
    path: '/',
    access: 'full',
    async run(p, c) {
      const user = c.session!.username;
      const [status, account] = await Promise.all([p.tf.status(user), p.deps.manager.showAccount(user)]);
      render(
        p,
        c,
        200,
        'Your mail account security',
        homeBody(p.base, { status, override: account.override, activePasscodes: account.activePasscodes }),
        homeNotice(c.query, p.base),
      );
    },
  },
  { method: 'GET', path: '/enable', access: 'full', run: (p, c) => showEnable(p, c, 200, null) },
  { method: 'POST', path: '/enable', access: 'full', run: enablePost },
  {
    method: 'GET',
    path: '/disable',
    access: 'full',
    async run(p, c) {
      const status = await p.tf.status(c.session!.username);
      if (!status.enabled) return go(p, c, '/');
      render(p, c, 200, 'Turn off two-factor authentication', disableBody(p.base, c.session!.csrf, status, null));
    },
  },
  {
    method: 'POST',
    path: '/disable',
    access: 'full',
    run: withSlots(codeSlots, disableBusy, disablePost),
  },
  {
    method: 'GET',
    path: '/codes',
    access: 'full',
    async run(p, c) {
      const status = await p.tf.status(c.session!.username);
      if (!status.enabled) return go(p, c, '/');
      render(p, c, 200, 'Emergency codes', codesBody(p.base, c.session!.csrf, status));
    },
  },
  {
    method: 'POST',
    path: '/codes',
    access: 'full',
    async run(p, c) {
      const user = c.session!.username;
      if (!(await p.tf.status(user)).enabled) return go(p, c, '/');
      const codes = await p.once.run(user, c.form.get('_once'), () => p.tf.regenerateCodes(user, who(c)));
      go(p, c, `/codes/new?r=${p.once.keep(user, 'codes', codes)}`);
    },
  },
  { method: 'GET', path: '/enabled', access: 'full', run: (p, c) => showCodes(p, c, true) },
  { method: 'GET', path: '/codes/new', access: 'full', run: (p, c) => showCodes(p, c, false) },
];
