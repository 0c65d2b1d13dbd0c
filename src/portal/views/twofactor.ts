/** Pages to turn two-factor authentication on and off, and to see and renew emergency codes. */
import QRCode from 'qrcode';
import type { TwoFactorStatus } from '../../core/twofactor.js';
import { html, trusted, type Html } from './html.js';
import { actingFields, codeField, csrfField, field } from './layout.js';

export interface Enrolment {
  manualKey: string;
  uri: string;
  issuer: string;
}

/** The otpauth URI as an inline SVG QR code (no image request, nothing for the CSP to allow). */
export async function qrSvg(uri: string): Promise<Html> {
  const svg = await QRCode.toString(uri, {
    type: 'svg',
    errorCorrectionLevel: 'M',
    margin: 2,
    color: { dark: '#000000', light: '#ffffff' },
  });
  return trusted(svg.replace('<svg ', '<svg aria-hidden="true" focusable="false" '));
}

/** The field for the admin's one-time enrolment code (portal.first_enrolment: code). */
function enrolCodeField(error: string | null): Html {
  return field({
    name: 'enrol_code',
    label: 'Enrolment code',
    error,
    autocomplete: 'off',
    maxlength: 40,
    autofocus: !!error,
    hint: 'Your mail administrator gave you an enrolment code (on paper, by phone or in person), like abcd-efgh-jkmn. It works once.',
  });
}

/** enrol: non-null when the first enrolment needs the admin's enrolment code (with its error). */
export function enableBody(
  base: string,
  csrf: string,
  account: string,
  e: Enrolment,
  qr: Html,
  error: string | null,
  replacing: boolean,
  enrol: { error: string | null } | null = null,
): Html {
  return html`<h1>${replacing ? 'Move to a new phone' : 'Turn on two-factor authentication'}</h1>
${replacing ? html`<p class="lead">Your current phone keeps working until you finish these steps.</p>` : ''}
${replacing ? '' : appsWarning()}
${enrol ? html`<p class="lead">Your mail administrator gave you an enrolment code for this step. You need it to finish; if you have none, ask your administrator for one.</p>` : ''}
<div class="card">
<ol class="steps">
<li><strong>Install an authenticator app on your phone</strong> if you do not have one yet — for example Google Authenticator, Microsoft Authenticator, 2FAS or Aegis. Password managers with one-time codes work too.</li>
<li><strong>In the app, add an account and scan this code.</strong>
<div class="qr" role="img" aria-label="QR code to scan with your authenticator app">${qr}</div>
<p class="small">On this phone? <a href="${e.uri}">Open in your authenticator app</a></p>
<details><summary>Cannot scan? Type the key instead</summary>
<p>Choose “enter a setup key” in the app and type:</p>
<p><code class="secret" id="manual-key">${e.manualKey}</code> <button type="button" class="secondary" data-copy="manual-key" hidden>Copy key</button></p>
<dl class="settings"><dt>Account</dt><dd>${account}</dd><dt>Issuer</dt><dd>${e.issuer}</dd><dt>Type</dt><dd>Time-based, 6 digits, every 30 seconds</dd></dl>
</details></li>
<li><strong>${enrol ? 'Enter your enrolment code and the 6-digit code the app now shows' : 'Enter the 6-digit code the app now shows'}</strong> to confirm it works.
<form method="post" action="${base}/enable" novalidate>
${actingFields(csrf)}
${enrol ? enrolCodeField(enrol.error) : ''}
${codeField(error, { label: '6-digit code', hint: '' })}
<div class="actions"><button type="submit">${replacing ? 'Use this phone' : 'Turn on'}</button></div>
</form></li>
</ol>
</div>
<div class="inline-actions"><a href="${base}/">Cancel</a><form method="post" action="${base}/enable">${csrfField(csrf)}<input type="hidden" name="action" value="restart"><button class="link" type="submit">Start over with a new key</button></form></div>`;
}

/** Before breakage: mail apps that use the main password stop working once 2FA is on. */
function appsWarning(): Html {
  return html`<div class="notice warn" role="note"><p><strong>Your mail apps will need passcodes.</strong> Once two-factor authentication is on, mail apps that sign in with your main password (Outlook, Thunderbird, Apple Mail, the mail app on your phone) stop working until each one gets its own app passcode.</p>
<p>Make a list of them now: right after turning it on, the next page takes you to creating a passcode for each app, with setup steps and, for Apple devices, a profile to install.</p></div>`;
}

/** A reload of the page that showed new emergency codes: they are not shown twice. */
export function codesShownBody(base: string, first: boolean): Html {
  return html`<h1>${first ? 'Two-factor authentication is on' : 'Your new emergency codes'}</h1>
<div class="card"><p>Your emergency codes were shown once and, for your security, are not shown again. They still work.</p>
<p>If you did not save them, create a new set: the old codes then stop working.</p>
<div class="actions"><a class="button" href="${base}/passcodes">Create app passcodes</a><a class="button secondary" href="${base}/codes">Emergency codes</a></div></div>`;
}

function codesText(account: string, issuer: string, codes: string[]): string {
  return [
    `Emergency codes for ${account} (${issuer})`,
    'Each code works once, instead of a code from your phone.',
    '',
    ...codes.map((c, i) => `${String(i + 1).padStart(2)}. ${c}`),
    '',
  ].join('\n');
}

/** Emergency codes, shown once: after turning 2FA on, and after creating a new set. */
export function newCodesBody(base: string, account: string, issuer: string, codes: string[], first: boolean): Html {
  const href = `data:text/plain;charset=utf-8,${encodeURIComponent(codesText(account, issuer, codes))}`;
  return html`<h1>${first ? 'Two-factor authentication is on' : 'Your new emergency codes'}</h1>
${first ? html`<p class="notice ok" role="status">✔ From now on, signing in here needs your password and a code from your phone.</p>` : html`<p class="notice ok" role="status">✔ Your old emergency codes no longer work.</p>`}
<section class="card" aria-labelledby="codes-h">
<h2 id="codes-h">Save your emergency codes</h2>
<p>If you lose your phone, each of these codes lets you sign in once. <strong>They are shown only now.</strong> Print them or save them in a safe place — not only on your phone.</p>
<ol class="codes" id="codes">${codes.map((c) => html`<li>${c}</li>`)}</ol>
<div class="actions"><a class="button secondary" href="${trusted(href)}" download="emergency-codes-${account.replace(/[^a-z0-9@._-]/gi, '_')}.txt">Download as a text file</a><button type="button" class="secondary" data-print hidden>Print</button></div>
</section>
${
  first
    ? html`<div class="card"><span class="step">Next</span><h2>Create a passcode for each mail app</h2>
<p>Mail apps that used your main password stop working as soon as your account is switched to passcodes: give each app (each phone, each computer) its own passcode now.</p>
<div class="actions"><a class="button" href="${base}/passcodes">I have saved my codes — create app passcodes</a></div></div>`
    : html`<p><a class="button" href="${base}/">Done</a></p>`
}`;
}

export function codesBody(base: string, csrf: string, s: TwoFactorStatus): Html {
  return html`<h1>Emergency codes</h1>
<div class="card">
<p>You have <strong>${s.codesLeft} of ${s.codesTotal}</strong> codes left. Each one lets you sign in once when you do not have your phone.</p>
<p>Lost them, or used most of them? Create a new set. <strong>Your old codes stop working at once.</strong></p>
<form method="post" action="${base}/codes">${actingFields(csrf)}<div class="actions"><button type="submit">Create new emergency codes</button><a href="${base}/">Back</a></div></form>
</div>`;
}

export function disableBody(base: string, csrf: string, s: TwoFactorStatus, error: string | null): Html {
  if (s.required) {
    return html`<h1>Turn off two-factor authentication</h1><div class="card">
<p>Your mail administrator requires two-factor authentication for this account, so it cannot be turned off here. If you lost your phone, ask your administrator to reset it.</p>
<p><a href="${base}/">Back</a></p></div>`;
  }
  return html`<h1>Turn off two-factor authentication</h1>
<div class="card">
<p class="notice warn">When it is off, your password alone is enough to read your mail — anyone who learns it gets in.</p>
<ul>
<li>Mail apps must use your <strong>main password</strong> again: app passcodes stop working.</li>
<li>Your emergency codes are deleted.</li>
</ul>
<form method="post" action="${base}/disable" novalidate>
${csrfField(csrf)}
${codeField(error, { hint: 'To confirm it is you: the 6 digits your app shows now.' })}
<div class="actions"><button class="danger" type="submit">Turn off two-factor authentication</button><a href="${base}/">Keep it on</a></div>
</form>
</div>`;
}
