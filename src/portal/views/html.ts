/**
 * HTML by tagged template with escaping by default: every interpolated value is escaped unless
 * it is already an `Html` fragment. There is no other way to build markup in the portal, so an
 * account name or passcode name can never become markup.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Trusted markup (our own constants, the QR code SVG generated from our own data). */
export function trusted(s: string): Html {
  return new Html(s);
}

/** <time> in UTC; portal.js rewrites it in the reader's local time. */
export function time(ms: number | null, none = 'never'): Html {
  if (ms === null) return html`${none}`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}
