/** Sign-in pages: main password, then the second factor. */
import { html, type Html } from './html.js';
import { codeField, csrfField, field } from './layout.js';

export interface SigninValues {
  username?: string;
  error?: string | null;
  /** The field the error is about (it is shown there and gets the focus); default: password. */
  errorOn?: 'username' | 'password';
}

export function signinBody(base: string, csrf: string, v: SigninValues): Html {
  const on = v.error ? (v.errorOn ?? 'password') : null;
  return html`<h1>Sign in</h1>
<p class="lead">Turn on two-factor authentication, create passcodes for your mail apps, and keep emergency codes for when your phone is lost.</p>
<div class="card">
<form method="post" action="${base}/signin" novalidate>
${csrfField(csrf)}
${field({ name: 'username', label: 'Email address', value: v.username ?? '', autocomplete: 'username', inputmode: 'email', autofocus: on !== 'password', error: on === 'username' ? v.error! : null, maxlength: 255 })}
${field({ name: 'password', label: 'Password', type: 'password', hint: 'The password you use for webmail — not an app passcode.', error: on === 'password' ? v.error! : null, autocomplete: 'current-password', autofocus: on === 'password', maxlength: 1024 })}
<div class="actions"><button type="submit">Sign in</button></div>
</form>
</div>`;
}

export function verifyBody(base: string, csrf: string, user: string, error: string | null): Html {
  return html`<h1>Enter your code</h1>
<p class="lead">Two-factor authentication is on for <strong>${user}</strong>. Open your authenticator app and enter the code it shows for this account.</p>
<div class="card">
<form method="post" action="${base}/verify" novalidate>
${csrfField(csrf)}
${codeField(error, { emergency: true })}
<div class="actions"><button type="submit">Continue</button></div>
</form>
</div>
<form class="spaced" method="post" action="${base}/signout">${csrfField(csrf)}<button class="link" type="submit">Cancel and sign out</button></form>
<p class="small">Lost your phone and your emergency codes? Your mail administrator can reset two-factor authentication for you.</p>`;
}
