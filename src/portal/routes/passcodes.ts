/**
 * App passcodes: list, create (shown once, with setup steps and an Apple profile), revoke (which
 * also ends the passcode's live IMAP/SMTP sessions). Creating needs 2FA: without it a passcode
 * would be created behind nothing stronger than the password it is meant to replace. Seeing and
 * revoking does not: an admin may have made passcodes for an enforced account that has no 2FA.
 */
import { UsageError } from '../../core/manage.js';
import type { Protocol } from '../../store/types.js';
import { go, render } from '../app.js';
import { mobileconfig, serverInfo } from '../devices.js';
import { send } from '../http.js';
import type { Ctx, Portal, Route } from '../types.js';
import { html } from '../views/html.js';
import type { Notice } from '../views/layout.js';
import { createdBody, createdGoneBody, EXPIRY_CHOICES, passcodesBody, revokeBody, type CreateForm } from '../views/passcodes.js';

const DAY = 86_400_000;

/** Scopes offered: the protocols this mailgate actually serves. */
function offered(p: Portal): Protocol[] {
  return [...(p.deps.mail.imap.length ? ['imap' as const] : []), ...(p.deps.mail.smtp.length ? ['smtp' as const] : [])];
}

const twoFactorOn = async (p: Portal, c: Ctx) => (await p.tf.status(c.session!.username)).enabled;

async function showList(p: Portal, c: Ctx, status: number, form: CreateForm | null, notice: Notice | null = null): Promise<void> {
  const user = c.session!.username;
  const all = await p.deps.manager.listPasscodes(user);
  // Without 2FA there is nothing to create, and nothing to show unless an admin made some.
  if (form === null && all.length === 0) return go(p, c, '/?notice=need-2fa');
  const items = all.reverse().map((pc) => ({ p: pc, live: p.deps.sessions.count({ passcodeId: pc.id }) }));
  render(p, c, status, 'App passcodes', passcodesBody(p.base, c.session!.csrf, offered(p), items, form), notice);
}

async function listNotice(p: Portal, c: Ctx): Promise<Notice | null> {
  const q = c.query;
  if (q.get('notice') !== 'revoked') return null;
  const closed = Number(q.get('closed') ?? 0);
  const id = q.get('id');
  const name = id ? (await p.deps.manager.listPasscodes(c.session!.username)).find((x) => x.id === id)?.name : undefined;
  return {
    kind: 'ok',
    text: html`Passcode ${name ? html`“<strong class="name">${name}</strong>” ` : ''}revoked: mail apps using it can no longer sign in.${closed > 0 ? html` ${closed} open connection${closed === 1 ? ' was' : 's were'} closed.` : ''}`,
  };
}

/** What a new passcode's pages need; kept in memory until shown (and downloaded) once. */
interface Created {
  name: string;
  formatted: string;
  info: Parameters<typeof createdBody>[2];
  profile: string;
}

async function createPost(p: Portal, c: Ctx): Promise<void> {
  const user = c.session!.username;
  const scopes = c.form.getAll('scopes').filter((s): s is Protocol => (offered(p) as string[]).includes(s));
  const expiry = EXPIRY_CHOICES.find((e) => e.value === c.form.get('expiry')) ?? EXPIRY_CHOICES[0]!;
  const form: CreateForm = { name: c.form.get('name') ?? '', scopes, expiry: expiry.value, error: null };
  if (!form.name.trim()) form.error = 'Give the passcode a name, e.g. “Outlook on my work PC”.';
  else if (form.name.trim().length > 100) form.error = 'Use a shorter name (at most 100 characters).';
  else if (scopes.length === 0) form.error = 'Choose at least one use: reading mail, sending mail, or both.';
  if (form.error) return showList(p, c, 400, form);
  // A double click posts twice: the second gets the first one's page, not a second passcode.
  const r = await p.once.run(user, c.form.get('_once'), async () => {
    try {
      const expiresAt = expiry.days === null ? null : p.deps.clock.now() + expiry.days * DAY;
      return await p.deps.manager.createPasscode(user, { name: form.name, scopes, expiresAt }, { actor: 'portal', ip: c.ip });
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      return { error: e.message };
    }
  });
  if ('error' in r) return showList(p, c, 400, { ...form, error: r.error });
  // Each answer (a repeated post's too) gets its own one-time reveal: the browser may fetch the
  // first answer's page and drop it, and must still see the passcode on the page it keeps.
  const profile = p.once.keep(user, 'profile', { name: r.info.name, formatted: r.formatted });
  const id = p.once.keep(user, 'created', { name: r.info.name, formatted: r.formatted, info: r.info, profile } satisfies Created);
  go(p, c, `/passcodes/new?r=${id}`);
}

const brandName = (p: Portal) => p.deps.portal.brand?.name ?? 'Mail account security';

export const passcodeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/passcodes',
    access: 'full',
    async run(p, c) {
      const form = (await twoFactorOn(p, c)) ? { name: '', scopes: offered(p), expiry: 'never', error: null } : null;
      await showList(p, c, 200, form, await listNotice(p, c));
    },
  },
  {
    method: 'POST',
    path: '/passcodes',
    access: 'full',
    async run(p, c) {
      if (await twoFactorOn(p, c)) await createPost(p, c);
      else go(p, c, '/?notice=need-2fa');
    },
  },
  {
    method: 'GET',
    path: '/passcodes/new',
    access: 'full',
    async run(p, c) {
      const user = c.session!.username;
      const made = p.once.take<Created>(user, 'created', c.query.get('r'));
      if (!made) return render(p, c, 200, 'Your new passcode', createdGoneBody(p.base));
      render(p, c, 200, 'Your new passcode', createdBody(p.base, user, made.info, made.formatted, serverInfo(p, c), made.profile));
    },
  },
  {
    method: 'GET',
    path: '/passcodes/profile',
    access: 'full',
    async run(p, c) {
      const user = c.session!.username;
      const made = p.once.take<{ name: string; formatted: string }>(user, 'profile', c.query.get('r'));
      if (!made) return render(p, c, 410, 'Your new passcode', createdGoneBody(p.base));
      const file = `${user.replace(/[^a-z0-9@._-]/gi, '_')}.mobileconfig`;
      send(c.res, 200, 'application/x-apple-aspen-config', mobileconfig(user, made.name, made.formatted, serverInfo(p, c), brandName(p)), {
        'Content-Disposition': `attachment; filename="${file}"`,
      });
    },
  },
  {
    method: 'GET',
    path: '/revoke',
    access: 'full',
    async run(p, c) {
      const id = c.query.get('id') ?? '';
      const pc = (await p.deps.manager.listPasscodes(c.session!.username)).find((x) => x.id === id && x.status === 'active');
      if (!pc) return go(p, c, '/passcodes');
      render(p, c, 200, 'Revoke passcode', revokeBody(p.base, c.session!.csrf, pc, p.deps.sessions.count({ passcodeId: pc.id })));
    },
  },
  {
    method: 'POST',
    path: '/revoke',
    access: 'full',
    async run(p, c) {
      const id = c.form.get('id') ?? '';
      const r = await p.once.run(c.session!.username, c.form.get('_once'), async () => {
        const done = await p.deps.manager.revokePasscode(c.session!.username, id, 'portal');
        return done.revoked ? `/passcodes?notice=revoked&closed=${done.sessionsClosed}&id=${encodeURIComponent(id)}` : '/passcodes';
      });
      go(p, c, r);
    },
  },
];
