/** The page frame and the form building blocks every portal page uses. */
import { OnceForms } from '../once.js';
import { html, type Html } from './html.js';

export interface Notice {
  kind: 'ok' | 'error' | 'warn';
  text: Html | string;
}

export interface Frame {
  /** Path prefix of the portal (from public_url), '' at the root. */
  base: string;
  /** Signed-in account, for the header; null on the sign-in pages. */
  user: string | null;
  /** The session's CSRF token (for the sign-out button), when signed in. */
  csrf: string | null;
  /** portal.brand: the name in the header and titles, an optional logo. */
  brand?: { name: string; logoUrl: string | null };
}

export function page(frame: Frame, title: string, body: Html, notice: Notice | null = null): string {
  const b = frame.base;
  const brand = frame.brand ?? { name: 'Mail account security', logoUrl: null };
  const signout =
    frame.user && frame.csrf
      ? html`<form method="post" action="${b}/signout">${csrfField(frame.csrf)}<button class="secondary small-button" type="submit">Sign out</button></form>`
      : '';
  // Errors are announced (role=alert) and get focus via autofocus on the first invalid field.
  const note = notice
    ? html`<div class="notice ${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="color-scheme" content="light dark">
<title>${title} – ${brand.name}</title>
<link rel="icon" href="${b}/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${b}/static/portal.css">
<script src="${b}/static/portal.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header class="top"><div class="wrap">
<a class="brand" href="${b}/">${brand.logoUrl ? html`<img src="${brand.logoUrl}" alt="" height="28">` : ''}${brand.name}</a>
${frame.user ? html`<div class="who"><span>Signed in as <strong>${frame.user}</strong></span>${signout}</div>` : ''}
</div></header>
<main id="main" tabindex="-1"><div class="wrap">
${note}
${body}
</div></main>
<footer><div class="wrap">Two-factor protection for your mail, provided by your mail administrator.</div></footer>
</body>
</html>
`.text;
}

export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** The hidden fields of a form that acts: CSRF token and a fresh one-time token (portal/once.ts). */
export function actingFields(csrf: string): Html {
  return html`${csrfField(csrf)}<input type="hidden" name="_once" value="${OnceForms.token()}">`;
}

export interface FieldOptions {
  name: string;
  label: string;
  hint?: string;
  error?: string | null;
  type?: 'text' | 'password';
  value?: string;
  autocomplete?: string;
  inputmode?: 'numeric' | 'email' | 'text';
  autofocus?: boolean;
  required?: boolean;
  maxlength?: number;
  cls?: string;
  pattern?: string;
}

/** A labelled input with its hint and error tied to it for screen readers. */
/** The attributes of a form input, one optional attribute per line (every value escaped by `html`). */
function inputAttrs(o: FieldOptions, id: string, described: string): Html {
  const opt = (on: unknown, a: Html): Html | string => (on ? a : '');
  return html`id="${id}" name="${o.name}" type="${o.type ?? 'text'}" value="${o.value ?? ''}"${opt(o.cls, html` class="${o.cls}"`)}${opt(
    described,
    html` aria-describedby="${described}"`,
  )}${opt(o.error, html` aria-invalid="true"`)}${opt(o.autocomplete, html` autocomplete="${o.autocomplete}"`)}${opt(
    o.inputmode,
    html` inputmode="${o.inputmode}"`,
  )}${opt(o.maxlength, html` maxlength="${o.maxlength}"`)}${opt(o.pattern, html` pattern="${o.pattern}"`)}${opt(
    o.required !== false,
    html` required`,
  )}${opt(o.autofocus || o.error, html` autofocus`)}`;
}

export function field(o: FieldOptions): Html {
  const id = `f-${o.name}`;
  const described = [o.hint ? `${id}-hint` : '', o.error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return html`<div class="field">
<label for="${id}">${o.label}</label>
${o.hint ? html`<span class="hint" id="${id}-hint">${o.hint}</span>` : ''}
${o.error ? html`<p class="field-error" id="${id}-error"><span class="vh">Error: </span>${o.error}</p>` : ''}
<input ${inputAttrs(o, id, described)} autocapitalize="none" spellcheck="false">
</div>`;
}

/** The input for a 6-digit code from the authenticator app (and, where allowed, an emergency code). */
export function codeField(error: string | null, opts: { label?: string; hint?: string; emergency?: boolean } = {}): Html {
  return field({
    name: 'code',
    label: opts.label ?? 'Code from your authenticator app',
    hint:
      opts.hint ??
      (opts.emergency
        ? 'The 6 digits your app shows now. No phone? Enter one of your emergency codes instead.'
        : 'The 6 digits your app shows now.'),
    error,
    autocomplete: 'one-time-code',
    inputmode: opts.emergency ? 'text' : 'numeric',
    cls: 'code',
    maxlength: opts.emergency ? 20 : 7,
    autofocus: true,
  });
}
