/** App passcode pages: the list with the create form, the new passcode with setup steps, revoking. */
import type { PasscodeView } from '../../core/manage.js';
import type { Protocol } from '../../store/types.js';
import type { MailEndpoint } from '../types.js';
import { html, time, type Html } from './html.js';
import { csrfField, field } from './layout.js';

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

function item(base: string, { p, live }: PasscodeListItem): Html {
  const used =
    p.lastUsedAt === null
      ? html`Not used yet`
      : html`Last used ${time(p.lastUsedAt)}${p.lastUsedIp ? html` from ${p.lastUsedIp}` : ''}${p.lastUsedClient ? html` (${p.lastUsedClient})` : ''}`;
  return html`<li class="pc">
<div class="pc-head"><h3>${p.name}</h3>${
    p.status === 'active'
      ? html`<a class="button secondary small-button" href="${base}/revoke?id=${encodeURIComponent(p.id)}" aria-label="Revoke ${p.name}">Revoke…</a>`
      : html`<span class="badge">${p.status === 'revoked' ? 'Revoked' : 'Expired'}</span>`
  }</div>
<p class="pc-meta">${p.scopes.map((s) => SCOPE_LABELS[s]).join(' and ')} · Created ${time(p.createdAt)} · ${p.expiresAt === null ? 'Never expires' : html`${p.status === 'expired' ? 'Expired' : 'Expires'} ${time(p.expiresAt)}`}</p>
<p class="pc-meta">${used}${live > 0 ? html` · <span class="badge live">${live} open connection${live === 1 ? '' : 's'}</span>` : ''}</p>
</li>`;
}

function list(base: string, items: PasscodeListItem[]): Html {
  return html`<ul class="pclist">${items.map((i) => item(base, i))}</ul>`;
}

function createForm(base: string, csrf: string, scopes: readonly Protocol[], f: CreateForm): Html {
  return html`<form method="post" action="${base}/passcodes" novalidate>
${csrfField(csrf)}
${field({ name: 'name', label: 'Name', hint: 'Which app and device it is for, so you recognise it later — e.g. “Thunderbird on my laptop”.', value: f.name, error: f.error, maxlength: 100 })}
<fieldset><legend>Use it for</legend>
${scopes.map((s) => html`<label class="check"><input type="checkbox" name="scopes" value="${s}"${f.scopes.includes(s) ? html` checked` : ''}> ${SCOPE_LABELS[s]}</label>`)}
</fieldset>
<div class="field"><label for="f-expiry">Stops working</label>
<select id="f-expiry" name="expiry">${EXPIRY_CHOICES.map((e) => html`<option value="${e.value}"${e.value === f.expiry ? html` selected` : ''}>${e.label}</option>`)}</select></div>
<div class="actions"><button type="submit">Create passcode</button></div>
</form>`;
}

export function passcodesBody(base: string, csrf: string, scopes: readonly Protocol[], items: PasscodeListItem[], form: CreateForm): Html {
  const active = items.filter((i) => i.p.status === 'active');
  const old = items.filter((i) => i.p.status !== 'active');
  const create = html`<section class="card" aria-labelledby="new-h"><h2 id="new-h">Create a passcode</h2>${createForm(base, csrf, scopes, form)}</section>`;
  const mine = html`<section class="card" aria-labelledby="list-h"><h2 id="list-h">Your passcodes</h2>
${active.length ? list(base, active) : html`<p>No active passcodes${old.length ? '' : ' yet'}.</p>`}
${old.length ? html`<details><summary>Revoked and expired (${old.length})</summary>${list(base, old)}</details>` : ''}
</section>`;
  // A new user comes to create one; someone with passcodes usually comes to check or revoke one.
  // A form with an error stays on top, where the browser puts the focus.
  const createFirst = active.length === 0 || form.error !== null;
  return html`<h1>App passcodes</h1>
<p class="lead">Your mail apps sign in with a passcode instead of your password. Create one per app and device, so you can revoke one without touching the others.</p>
${createFirst ? [create, mine] : [mine, create]}
<p><a href="${base}/">Back to the start page</a></p>`;
}

export interface ServerInfo {
  host: string;
  imap: MailEndpoint | null;
  smtp: MailEndpoint | null;
}

const security = (e: MailEndpoint) => (e.tls === 'implicit' ? 'SSL/TLS' : e.tls === 'starttls' ? 'STARTTLS' : 'None');

function settings(user: string, s: ServerInfo): Html {
  return html`<dl class="settings">
${s.imap ? html`<dt>Incoming (IMAP)</dt><dd>${s.host}, port ${s.imap.port}, ${security(s.imap)}</dd>` : ''}
${s.smtp ? html`<dt>Outgoing (SMTP)</dt><dd>${s.host}, port ${s.smtp.port}, ${security(s.smtp)}</dd>` : ''}
<dt>Username</dt><dd>${user}</dd><dt>Password</dt><dd>the passcode above</dd>
</dl>`;
}

export function createdBody(base: string, user: string, p: PasscodeView, formatted: string, s: ServerInfo): Html {
  return html`<h1>Your new passcode</h1>
<div class="card">
<p>Passcode for <strong>${p.name}</strong>:</p>
<p><code class="secret" id="passcode">${formatted}</code> <button type="button" data-copy="passcode" hidden>Copy</button></p>
<p class="notice warn"><strong>It is shown only this once.</strong> Enter it in your mail app now, where it asks for your password. The spaces do not matter.</p>
</div>
<section class="card" aria-labelledby="setup-h"><h2 id="setup-h">Set up your mail app</h2>
${settings(user, s)}
<details open><summary>Thunderbird</summary><ol>
<li>Open <em>Account Settings</em> → <em>Account Actions</em> → <em>Add Mail Account</em> (or, for an account you already have, <em>Server Settings</em>).</li>
<li>Enter your name, <strong>${user}</strong> and the passcode as the password, then choose <em>Configure manually</em>.</li>
<li>Enter the servers, ports and security shown above; authentication: <em>Normal password</em>. Click <em>Done</em>.</li></ol></details>
<details><summary>Outlook</summary><ol>
<li>Choose <em>File</em> → <em>Add Account</em>, enter <strong>${user}</strong>, open <em>Advanced options</em> and tick <em>Let me set up my account manually</em>.</li>
<li>Choose <em>IMAP</em> and enter the servers, ports and encryption shown above.</li>
<li>When asked for the password, enter the passcode.</li></ol></details>
<details><summary>Apple Mail (Mac, iPhone, iPad)</summary><ol>
<li>Mac: <em>Mail</em> → <em>Add Account</em> → <em>Other Mail Account</em>. iPhone/iPad: <em>Settings</em> → <em>Mail</em> → <em>Accounts</em> → <em>Add Account</em> → <em>Other</em>.</li>
<li>Enter your name, <strong>${user}</strong> and the passcode as the password.</li>
<li>If asked, choose <em>IMAP</em> and enter the incoming and outgoing servers shown above.</li></ol></details>
<p class="small">Already set up? Replace the old password in the app's account settings with this passcode.</p>
</section>
<p><a class="button" href="${base}/passcodes">Done</a></p>`;
}

export function revokeBody(base: string, csrf: string, p: PasscodeView, live: number): Html {
  return html`<h1>Revoke “${p.name}”?</h1>
<div class="card">
<p>Mail apps using this passcode stop working at once${live > 0 ? html` and its <strong>${live} open connection${live === 1 ? ' is' : 's are'}</strong> closed` : ''}. This cannot be undone; you can create a new passcode at any time.</p>
<form method="post" action="${base}/revoke">${csrfField(csrf)}<input type="hidden" name="id" value="${p.id}">
<div class="actions"><button class="danger" type="submit">Revoke passcode</button><a href="${base}/passcodes">Cancel</a></div></form>
</div>`;
}
