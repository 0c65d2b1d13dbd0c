/** App passcode pages: the list with the create form, the new passcode with setup steps, revoking. */
import type { PasscodeView } from '../../core/manage.js';
import type { Protocol } from '../../store/types.js';
import type { ServerInfo } from '../devices.js';
import { html, time, type Html } from './html.js';
import { actingFields, field } from './layout.js';
import { setupSteps } from './setup.js';

export const SCOPE_LABELS: Record<Protocol, string> = {
  imap: 'Reading mail (IMAP)',
  smtp: 'Sending mail (SMTP)',
  pop3: 'Downloading mail (POP3)',
};
export const EXPIRY_CHOICES: ReadonlyArray<{ value: string; label: string; days: number | null }> = [
  { value: 'never', label: 'Never', days: null },
  { value: '30', label: 'In 30 days', days: 30 },
  { value: '90', label: 'In 90 days', days: 90 },
  { value: '365', label: 'In a year', days: 365 },
];

export interface PasscodeListItem {
  p: PasscodeView;
  live: number;
}
export interface CreateForm {
  name: string;
  scopes: Protocol[];
  expiry: string;
  error: string | null;
}

/**
 * The client name worth showing: an IMAP ID name ("Thunderbird/128.3"). SMTP records its EHLO
 * argument, a host name or an address literal ("[127.0.0.1]") that says nothing about the app.
 */
export function clientName(client: string | null, ip: string | null): string | null {
  if (!client) return null;
  const bare = client.replace(/^\[(?:IPv6:)?|\]$/gi, '');
  if (client.startsWith('[') || bare === ip || /^[\d.]+$|^[0-9a-f:]+$/i.test(bare)) return null;
  // A fully qualified EHLO name (one token with dots, no version) says where, not which app.
  // A single word stays: it may be an IMAP ID name sent without a version.
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)+$/i.test(client)) return null;
  return client;
}

/** The passcode's own limits (passcodes allow, passcodes.expire_unused), when it has any. */
export function passcodeLimits(p: PasscodeListItem['p']): Html | '' {
  const parts: Html[] = [];
  if (p.allowedNetworks?.length) parts.push(html`Works only from ${p.allowedNetworks.join(', ')}`);
  if (p.status === 'active' && p.unusedExpiresAt !== null) parts.push(html`Stops working ${time(p.unusedExpiresAt)} unless used before`);
  return parts.length
    ? html`<p class="pc-meta">${parts.map((x, i) => (i ? html` · ${x}` : x))}</p>
`
    : '';
}

function item(base: string, { p, live }: PasscodeListItem): Html {
  const client = clientName(p.lastUsedClient, p.lastUsedIp);
  const used =
    p.lastUsedAt === null
      ? html`Not used yet`
      : html`Last used ${time(p.lastUsedAt)}${p.lastUsedIp ? html` from ${p.lastUsedIp}` : ''}${client ? html` (${client})` : ''}`;
  return html`<li class="pc">
<div class="pc-head"><h3 class="name">${p.name}</h3>${
    p.status === 'active'
      ? html`<a class="button secondary small-button" href="${base}/revoke?id=${encodeURIComponent(p.id)}" aria-label="Revoke ${p.name}">Revoke…</a>`
      : html`<span class="badge">${p.status === 'revoked' ? 'Revoked' : 'Expired'}</span>`
  }</div>
<p class="pc-meta">${p.scopes.map((s) => SCOPE_LABELS[s]).join(' and ')} · Created ${time(p.createdAt)} · ${p.revokedAt !== null ? html`Revoked ${time(p.revokedAt)}` : p.expiresAt === null ? 'Never expires' : html`${p.status === 'expired' ? 'Expired' : 'Expires'} ${time(p.expiresAt)}`}</p>
${passcodeLimits(p)}<p class="pc-meta">${used}${live > 0 ? html` · <span class="badge live">${live} open connection${live === 1 ? '' : 's'}</span>` : ''}</p>
</li>`;
}

function list(base: string, items: PasscodeListItem[]): Html {
  return html`<ul class="pclist">${items.map((i) => item(base, i))}</ul>`;
}

function createForm(base: string, csrf: string, scopes: readonly Protocol[], f: CreateForm): Html {
  return html`<form method="post" action="${base}/passcodes" novalidate>
${actingFields(csrf)}
${field({ name: 'name', label: 'Name', hint: 'Which app and device it is for, so you recognise it later — e.g. “Thunderbird on my laptop”.', value: f.name, error: f.error, maxlength: 100 })}
<fieldset><legend>Use it for</legend>
${scopes.map((s) => html`<label class="check"><input type="checkbox" name="scopes" value="${s}"${f.scopes.includes(s) ? html` checked` : ''}> ${SCOPE_LABELS[s]}</label>`)}
</fieldset>
<div class="field"><label for="f-expiry">Stops working</label>
<select id="f-expiry" name="expiry">${EXPIRY_CHOICES.map((e) => html`<option value="${e.value}"${e.value === f.expiry ? html` selected` : ''}>${e.label}</option>`)}</select></div>
<div class="actions"><button type="submit">Create passcode</button></div>
</form>`;
}

/** form null: 2FA is off, so only the passcodes an admin made are listed (to see and revoke). */
export function passcodesBody(
  base: string,
  csrf: string,
  scopes: readonly Protocol[],
  items: PasscodeListItem[],
  form: CreateForm | null,
): Html {
  const active = items.filter((i) => i.p.status === 'active');
  const old = items.filter((i) => i.p.status !== 'active');
  const create = form
    ? html`<section class="card" aria-labelledby="new-h"><h2 id="new-h">Create a passcode</h2>${createForm(base, csrf, scopes, form)}</section>`
    : html`<section class="card"><p>Your mail administrator made these passcodes for you. To create your own, <a href="${base}/enable">turn on two-factor authentication</a> first.</p></section>`;
  const mine = html`<section class="card" aria-labelledby="list-h"><h2 id="list-h">Your passcodes</h2>
${active.length ? list(base, active) : html`<p>No active passcodes${old.length ? '' : ' yet'}.</p>`}
${old.length ? html`<details><summary>Revoked and expired (${old.length})</summary>${list(base, old)}</details>` : ''}
</section>`;
  // A new user comes to create one; someone with passcodes usually comes to check or revoke one.
  // A form with an error stays on top, where the browser puts the focus.
  const createFirst = form !== null && (active.length === 0 || form.error !== null);
  return html`<h1>App passcodes</h1>
<p class="lead">Your mail apps sign in with a passcode instead of your password. Create one per app and device, so you can revoke one without touching the others.</p>
${createFirst ? [create, mine] : [mine, create]}
<p><a href="${base}/">Back to the start page</a></p>`;
}

export function createdBody(base: string, user: string, p: PasscodeView, formatted: string, s: ServerInfo, profile: string): Html {
  return html`<h1>Your new passcode</h1>
<div class="card">
<p>Passcode for <strong class="name">${p.name}</strong>:</p>
<p><code class="secret" id="passcode">${formatted}</code> <button type="button" data-copy="passcode" hidden>Copy</button></p>
<p class="notice warn"><strong>It is shown only this once.</strong> Enter it in your mail app now, where it asks for your password. The spaces do not matter.</p>
</div>
${setupSteps(base, user, s, profile)}
<p><a class="button" href="${base}/passcodes">Done</a></p>`;
}

/** A reload of the new-passcode page: the passcode is not shown twice. */
export function createdGoneBody(base: string): Html {
  return html`<h1>Your new passcode</h1>
<div class="card"><p>This passcode was shown once and, for your security, is not shown again. It still works in the apps you entered it in.</p>
<p>Did not save it? Revoke it and create a new one.</p>
<div class="actions"><a class="button" href="${base}/passcodes">App passcodes</a></div></div>`;
}

export function revokeBody(base: string, csrf: string, p: PasscodeView, live: number): Html {
  return html`<h1>Revoke “${p.name}”?</h1>
<div class="card">
<p>Mail apps using this passcode stop working at once${live > 0 ? html` and its <strong>${live} open connection${live === 1 ? ' is' : 's are'}</strong> closed` : ''}. This cannot be undone; you can create a new passcode at any time.</p>
<form method="post" action="${base}/revoke">${actingFields(csrf)}<input type="hidden" name="id" value="${p.id}">
<div class="actions"><button class="danger" type="submit">Revoke passcode</button><a href="${base}/passcodes">Cancel</a></div></form>
</div>`;
}
