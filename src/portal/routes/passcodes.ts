/**
 * App passcodes: list, create (shown once, with setup steps), revoke (which also ends the
 * passcode's live IMAP/SMTP sessions). Only for accounts with 2FA on: without it a passcode
 * would be created behind nothing stronger than the password it is meant to replace.
 */
import { UsageError } from '../../core/manage.js';
import type { Protocol } from '../../store/types.js';
import { go, render } from '../app.js';
import type { Ctx, MailEndpoint, Portal, Route } from '../types.js';
import { html } from '../views/html.js';
import type { Notice } from '../views/layout.js';
import { createdBody, EXPIRY_CHOICES, passcodesBody, revokeBody, type CreateForm, type ServerInfo } from '../views/passcodes.js';

const DAY = 86_400_000;

/** Scopes offered: the protocols this mailgate actually serves. */
function offered(p: Portal): Protocol[] {
  return [...(p.deps.mail.imap.length ? ['imap' as const] : []), ...(p.deps.mail.smtp.length ? ['smtp' as const] : [])];
}

/** Implicit TLS first (no downgrade possible), then STARTTLS, then whatever there is. */
function preferred(list: MailEndpoint[]): MailEndpoint | null {
  return list.find((e) => e.tls === 'implicit') ?? list.find((e) => e.tls === 'starttls') ?? list[0] ?? null;
}

function serverInfo(p: Portal, c: Ctx): ServerInfo {
  const fromUrl = p.deps.portal.publicUrl ? new URL(p.deps.portal.publicUrl).hostname : null;
  const fromHost = (c.req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '') || 'your mail server';
  return { host: p.deps.mail.host ?? fromUrl ?? fromHost, imap: preferred(p.deps.mail.imap), smtp: preferred(p.deps.mail.smtp) };
}

async function ready(p: Portal, c: Ctx): Promise<boolean> {
  if ((await p.tf.status(c.session!.username)).enabled) return true;
  go(p, c, '/?notice=need-2fa');
  return false;
}

async function showList(p: Portal, c: Ctx, status: number, form: CreateForm, notice: Notice | null = null): Promise<void> {
  const user = c.session!.username;
  const items = (await p.deps.manager.listPasscodes(user))
    .reverse()
    .map((pc) => ({ p: pc, live: p.deps.sessions.list({ passcodeId: pc.id }).length }));
  render(p, c, status, 'App passcodes', passcodesBody(p.base, c.session!.csrf, offered(p), items, form), notice);
}

function listNotice(q: URLSearchParams): Notice | null {
  if (q.get('notice') !== 'revoked') return null;
  const closed = Number(q.get('closed') ?? 0);
  return {
    kind: 'ok',
    text: html`Passcode revoked.${closed > 0 ? html` ${closed} open connection${closed === 1 ? ' was' : 's were'} closed.` : ''}`,
  };
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
  try {
    const expiresAt = expiry.days === null ? null : p.deps.clock.now() + expiry.days * DAY;
    const r = await p.deps.manager.createPasscode(user, { name: form.name, scopes, expiresAt }, { actor: 'portal', ip: c.ip });
    render(p, c, 200, 'Your new passcode', createdBody(p.base, user, r.info, r.formatted, serverInfo(p, c)));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return showList(p, c, 400, { ...form, error: e.message });
  }
}

export const passcodeRoutes: Route[] = [
  {
    method: 'GET',
    path: '/passcodes',
    access: 'full',
    async run(p, c) {
      if (await ready(p, c)) await showList(p, c, 200, { name: '', scopes: offered(p), expiry: 'never', error: null }, listNotice(c.query));
    },
  },
  {
    method: 'POST',
    path: '/passcodes',
    access: 'full',
    async run(p, c) {
      if (await ready(p, c)) await createPost(p, c);
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
      render(p, c, 200, 'Revoke passcode', revokeBody(p.base, c.session!.csrf, pc, p.deps.sessions.list({ passcodeId: pc.id }).length));
    },
  },
  {
    method: 'POST',
    path: '/revoke',
    access: 'full',
    async run(p, c) {
      const r = await p.deps.manager.revokePasscode(c.session!.username, c.form.get('id') ?? '', 'portal');
      go(p, c, r.revoked ? `/passcodes?notice=revoked&closed=${r.sessionsClosed}` : '/passcodes');
    },
  },
];
