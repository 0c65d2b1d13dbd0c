/** The start page: the three steps of a 2FA guide, each with where the user stands. */
import type { TwoFactorStatus } from '../../core/twofactor.js';
import { html, time, type Html } from './html.js';
import type { Notice } from './layout.js';

export interface HomeData {
  status: TwoFactorStatus;
  /** The account's enforcement override; false = an admin exempted it from passcodes. */
  override: boolean | null;
  activePasscodes: number;
}

export function homeBody(base: string, d: HomeData): Html {
  const s = d.status;
  const step1 = s.enabled
    ? html`<p><span class="status on">✔ On</span> since ${time(s.enabledAt)}. Signing in here needs your password and a code from your phone.</p>
<div class="actions"><a class="button secondary" href="${base}/enable">Move to a new phone</a>${s.required ? '' : html`<a href="${base}/disable">Turn off two-factor authentication</a>`}</div>
${s.required ? html`<p class="small">Your mail administrator requires two-factor authentication for this account, so it cannot be turned off here.</p>` : ''}`
    : html`<p><span class="status off">✖ Off</span></p>
<p>When it is on, signing in here needs your password <em>and</em> a code from an app on your phone. Your mail apps then use their own app passcodes, so a stolen password alone no longer opens your mail.</p>
${s.required ? html`<p><strong>Your mail administrator requires this for your account.</strong></p>` : ''}
<div class="actions"><a class="button" href="${base}/enable">Turn on two-factor authentication</a></div>`;
  // Without 2FA nothing can be created, but passcodes an admin made must still be visible and revocable.
  const step2 = !s.enabled
    ? d.activePasscodes > 0
      ? html`<p>Your mail administrator made <strong>${d.activePasscodes}</strong> app passcode${d.activePasscodes === 1 ? '' : 's'} for you. You can see and revoke them; to create your own, turn on two-factor authentication.</p>
<div class="actions"><a class="button secondary" href="${base}/passcodes">See your app passcodes</a></div>`
      : html`<p>Available once two-factor authentication is on.</p>`
    : d.override === false
      ? html`<p>Your mail administrator has set this account to keep using your main password in mail apps, so app passcodes are not needed.</p>`
      : html`<p>Each mail app (Outlook, Thunderbird, Apple Mail, your phone) gets its own passcode instead of your password. You have <strong>${d.activePasscodes}</strong> active passcode${d.activePasscodes === 1 ? '' : 's'}.</p>
<div class="actions"><a class="button" href="${base}/passcodes">Manage app passcodes</a></div>`;
  const step3 = !s.enabled
    ? html`<p>You get them when you turn on two-factor authentication.</p>`
    : html`<p>You have <strong>${s.codesLeft} of ${s.codesTotal}</strong> emergency codes left. Each one lets you sign in once without your phone.</p>
${s.codesLeft <= 3 ? html`<p class="notice warn">You are running low. Create a new set and keep it somewhere safe.</p>` : ''}
<div class="actions"><a class="button secondary" href="${base}/codes">Emergency codes</a></div>`;
  return html`<h1>Your mail account security</h1>
<section class="card" aria-labelledby="s1"><span class="step">Step 1</span><h2 id="s1">Two-factor authentication</h2>${step1}</section>
<section class="card" aria-labelledby="s2"><span class="step">Step 2</span><h2 id="s2">App passcodes for your mail apps</h2>${step2}</section>
<section class="card" aria-labelledby="s3"><span class="step">Step 3</span><h2 id="s3">Emergency codes</h2>${step3}</section>`;
}

/** Messages shown on the start page after a redirect (?notice=…). */
export function homeNotice(query: URLSearchParams, base: string): Notice | null {
  switch (query.get('notice')) {
    case 'emergency': {
      const left = Number(query.get('left') ?? 0);
      return {
        kind: 'warn',
        text: html`You signed in with an emergency code; it will not work again. You have ${left} left.${left <= 3 ? html` <a href="${base}/codes">Create a new set</a>.` : ''} If your phone is lost, <a href="${base}/enable">set up your new phone</a>.`,
      };
    }
    case '2fa-off':
      return { kind: 'ok', text: 'Two-factor authentication is off. Mail apps use your main password again.' };
    case 'phone-changed':
      return { kind: 'ok', text: 'Your new phone is set up. Codes from the old one no longer work.' };
    case 'need-2fa':
      return { kind: 'warn', text: 'Turn on two-factor authentication first: app passcodes only work for accounts that have it.' };
    default:
      return null;
  }
}
