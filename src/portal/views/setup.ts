/** Setup steps shown beside a new passcode: the settings, a profile for Apple devices, each common app. */
import type { ServerInfo } from '../devices.js';
import type { MailEndpoint } from '../types.js';
import { html, type Html } from './html.js';

const security = (e: MailEndpoint) => (e.tls === 'implicit' ? 'SSL/TLS' : e.tls === 'starttls' ? 'STARTTLS' : 'None');

function settings(user: string, s: ServerInfo): Html {
  return html`<dl class="settings">
${s.imap ? html`<dt>Incoming (IMAP)</dt><dd>${s.host}, port ${s.imap.port}, ${security(s.imap)}</dd>` : ''}
${s.smtp ? html`<dt>Outgoing (SMTP)</dt><dd>${s.smtpHost}, port ${s.smtp.port}, ${security(s.smtp)}</dd>` : ''}
<dt>Username</dt><dd>${user}</dd><dt>Password</dt><dd>the passcode above</dd>
</dl>`;
}

/** profile: the one-time id of the Apple configuration profile holding this passcode. */
export function setupSteps(base: string, user: string, s: ServerInfo, profile: string): Html {
  return html`<section class="card" aria-labelledby="setup-h"><h2 id="setup-h">Set up your mail app</h2>
${settings(user, s)}
<details open><summary>iPhone, iPad or Mac: install a profile</summary>
<p>One download sets up the account with this passcode. It works once: download it on the device you are setting up.</p>
<p><a class="button secondary" id="profile" href="${base}/passcodes/profile?r=${profile}" download>Download the profile</a></p>
<ol><li>iPhone/iPad: open <em>Settings</em>; tap <em>Profile Downloaded</em> near the top, then <em>Install</em>. Mac: open the file, then <em>System Settings</em> → <em>Privacy &amp; Security</em> → <em>Profiles</em> → <em>Install</em>.</li>
<li>The profile is not signed, so the device shows “Unsigned”: that is expected for this download.</li></ol></details>
<details><summary>Thunderbird</summary><ol>
<li>Open <em>Account Settings</em> → <em>Account Actions</em> → <em>Add Mail Account</em> (or, for an account you already have, <em>Server Settings</em>).</li>
<li>Enter your name, <strong>${user}</strong> and the passcode as the password. Thunderbird finds the servers by itself; if not, choose <em>Configure manually</em>.</li>
<li>Enter the servers, ports and security shown above; authentication: <em>Normal password</em>. Click <em>Done</em>.</li></ol></details>
<details><summary>Outlook</summary><ol>
<li>Choose <em>File</em> → <em>Add Account</em>, enter <strong>${user}</strong>, open <em>Advanced options</em> and tick <em>Let me set up my account manually</em>.</li>
<li>Choose <em>IMAP</em> and enter the servers, ports and encryption shown above.</li>
<li>When asked for the password, enter the passcode.</li></ol></details>
<details><summary>New Outlook for Windows</summary><ol>
<li>Choose <em>Settings</em> → <em>Accounts</em> → <em>Email accounts</em> → <em>Add account</em>, enter <strong>${user}</strong> and <em>Continue</em>.</li>
<li>Choose <em>IMAP</em>, then <em>Show more</em>, and enter the passcode as the password and the servers, ports and security shown above.</li></ol></details>
<details><summary>Android: Gmail app</summary><ol>
<li>Open Gmail, tap your picture → <em>Add another account</em> → <em>Other</em>, enter <strong>${user}</strong> and tap <em>Manual setup</em> → <em>Personal (IMAP)</em>.</li>
<li>Enter the passcode as the password, then the incoming and outgoing servers, ports and security shown above.</li></ol></details>
<details><summary>Android: Thunderbird (K-9 Mail)</summary><ol>
<li>Open the app, <em>Add account</em>, enter <strong>${user}</strong>; it finds the servers by itself (else choose the settings shown above).</li>
<li>For the password, enter the passcode.</li></ol></details>
<details><summary>Apple Mail by hand</summary><ol>
<li>Mac: <em>Mail</em> → <em>Add Account</em> → <em>Other Mail Account</em>. iPhone/iPad: <em>Settings</em> → <em>Mail</em> → <em>Accounts</em> → <em>Add Account</em> → <em>Other</em>.</li>
<li>Enter your name, <strong>${user}</strong> and the passcode as the password.</li>
<li>If asked, choose <em>IMAP</em> and enter the incoming and outgoing servers shown above.</li></ol></details>
<p class="small">Already set up? Replace the old password in the app's account settings with this passcode.</p>
</section>`;
}
