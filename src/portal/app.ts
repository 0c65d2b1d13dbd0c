/**
 * The portal's request pipeline: base path, static assets, admin API, then for pages: session,
 * access rule, CSRF check on every POST (here, once, so no form can forget it), the route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { handleAdmin } from './admin.js';
import { clientIp } from './client-ip.js';
import { AUTOCONFIG_PATHS, autoconfigDomain, autoconfigXml, serverInfo } from './devices.js';
import { HttpError, SECURITY_HEADERS, cookie, parseCookies, readForm, redirect, send } from './http.js';
import { SESSION_COOKIE } from './sessions.js';
import type { Ctx, Portal, Route } from './types.js';
import { FAVICON_SVG, PORTAL_CSS, PORTAL_JS } from './views/assets.js';
import { html, type Html } from './views/html.js';
import { page, type Notice } from './views/layout.js';
import { peerOf } from '../net/proxied.js';

export const PRE_COOKIE = 'mailgate_signin';

/** Sends a full HTML page in the portal frame. */
export function render(
  p: Portal,
  c: Ctx,
  status: number,
  title: string,
  body: Html,
  notice: Notice | null = null,
  headers: Record<string, string | string[]> = {},
): void {
  const full = c.session?.stage === 'complete';
  const brand = p.deps.portal.brand ?? { name: 'Mail account security', logoUrl: null };
  const frame = { base: p.base, user: full ? c.session!.username : null, csrf: full ? c.session!.csrf : null, brand };
  send(c.res, status, 'text/html; charset=utf-8', page(frame, title, body, notice), { ...cspFor(brand.logoUrl), ...headers });
}

/** A logo on another origin must be allowed by the CSP's img-src, and only that origin. */
function cspFor(logoUrl: string | null): Record<string, string> {
  if (!logoUrl?.startsWith('https://')) return {};
  const csp = SECURITY_HEADERS['Content-Security-Policy']!.replace(
    "img-src 'self' data:",
    `img-src 'self' data: ${new URL(logoUrl).origin}`,
  );
  return { 'Content-Security-Policy': csp };
}

/** 303 to a portal path (base prepended). */
export function go(p: Portal, c: Ctx, path: string, headers: Record<string, string | string[]> = {}): void {
  redirect(c.res, `${p.base}${path}`, headers);
}

function message(p: Portal, c: Ctx, status: number, title: string, text: string, link: { href: string; label: string }): void {
  render(p, c, status, title, html`<h1>${title}</h1><p>${text}</p><p><a class="button" href="${p.base}${link.href}">${link.label}</a></p>`);
}

/** The request path below the base; a reverse proxy may or may not have stripped the prefix. */
function localPath(p: Portal, pathname: string): string {
  if (p.base && (pathname === p.base || pathname.startsWith(`${p.base}/`))) return pathname.slice(p.base.length) || '/';
  return pathname;
}

/** Access check: true to go on, false when a redirect was sent instead. */
function allowed(p: Portal, c: Ctx, route: Route, expired: boolean): boolean {
  const stage = c.session?.stage ?? null;
  if (route.access === 'none') return true;
  if (route.access === 'any' && stage) return true;
  if (route.access === 'pending' && stage === 'password') return true;
  if (route.access === 'full' && stage === 'complete') return true;
  if (stage === 'password') go(p, c, '/verify');
  else if (stage === 'complete') go(p, c, '/');
  else go(p, c, expired ? '/signin?notice=expired' : '/signin', expired ? { 'Set-Cookie': p.sessions.clearCookie() } : {});
  return false;
}

function csrfOk(p: Portal, c: Ctx, route: Route): boolean {
  const token = c.form.get('_csrf');
  // Forms shown to anyone (sign-in) carry the pre-session token even if a session cookie exists.
  if (route.access !== 'none' && c.session) return token !== null && token.length < 200 && p.sessions.sameCsrf(c.session, token);
  return p.pre.check(c.cookies.get(PRE_COOKIE), token);
}

async function handlePage(p: Portal, c: Ctx, routes: readonly Route[]): Promise<void> {
  const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
  const candidates = routes.filter((r) => r.path === c.path);
  const route = candidates.find((r) => r.method === method);
  if (!route) {
    if (candidates.length) {
      send(c.res, 405, 'text/plain; charset=utf-8', 'method not allowed', { Allow: candidates.map((r) => r.method).join(', ') });
      return;
    }
    message(p, c, 404, 'Page not found', 'There is no page at this address.', { href: '/', label: 'Go to the start page' });
    return;
  }
  const loaded = await p.sessions.load(c.cookies.get(SESSION_COOKIE));
  c.session = loaded.kind === 'ok' ? loaded.row : null;
  if (!allowed(p, c, route, loaded.kind === 'expired')) return;
  if (route.method === 'POST') {
    c.form = await readForm(c.req);
    if (!csrfOk(p, c, route)) {
      p.deps.log.info({ path: c.path, ip: c.ip }, 'portal: form refused (missing or wrong CSRF token)');
      message(
        p,
        c,
        403,
        'This form has expired',
        'For your security, forms stop working after a while or when you sign in again elsewhere. Go back, reload the page and try again.',
        { href: c.path === '/signin' ? '/signin' : '/', label: 'Start again' },
      );
      return;
    }
  }
  await route.run(p, c);
}

/** Thunderbird's autoconfig for a domain the mail fronts serve; 404 for any other. */
function autoconfig(p: Portal, c: Ctx): void {
  const domain = autoconfigDomain(p, c);
  if (!domain) {
    send(c.res, 404, 'text/plain; charset=utf-8', 'no mail settings for this domain\n');
    return;
  }
  const name = p.deps.portal.brand?.name ?? domain;
  send(c.res, 200, 'application/xml; charset=utf-8', autoconfigXml(domain, serverInfo(p, c), name), {
    'Cache-Control': 'public, max-age=3600',
  });
}

/** Builds the Node request listener. */
export function createRequestHandler(p: Portal, routes: readonly Route[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const started = p.deps.clock.now();
    const url = new URL(req.url ?? '/', 'http://portal.invalid');
    const c: Ctx = {
      req,
      res,
      path: localPath(p, url.pathname),
      query: url.searchParams,
      ip: clientIp(peerOf(req.socket).ip, req.headers['x-forwarded-for'], p.trustedProxies),
      cookies: parseCookies(req.headers.cookie),
      form: new URLSearchParams(),
      session: null,
    };
    const run = async () => {
      if (c.path === '/static/portal.css')
        return send(res, 200, 'text/css; charset=utf-8', PORTAL_CSS, { 'Cache-Control': 'public, max-age=3600' });
      if (c.path === '/static/portal.js')
        return send(res, 200, 'text/javascript; charset=utf-8', PORTAL_JS, { 'Cache-Control': 'public, max-age=3600' });
      if (c.path === '/favicon.ico' || c.path === '/static/favicon.svg')
        return send(res, 200, 'image/svg+xml', FAVICON_SVG, { 'Cache-Control': 'public, max-age=86400' });
      if (AUTOCONFIG_PATHS.includes(c.path)) return autoconfig(p, c);
      if (c.path === '/api/admin' || c.path.startsWith('/api/admin/')) return handleAdmin(p, c);
      return handlePage(p, c, routes);
    };
    run()
      .catch((e: unknown) => {
        if (e instanceof HttpError) {
          send(res, e.status, 'text/plain; charset=utf-8', `${e.message}\n`);
          return;
        }
        p.deps.log.error({ err: (e as Error).message, path: c.path }, 'portal: request failed');
        if (!res.headersSent)
          message(
            p,
            c,
            500,
            'Something went wrong',
            'The page could not be shown. Try again in a moment; if it keeps happening, tell your mail administrator.',
            { href: '/', label: 'Go to the start page' },
          );
        else res.destroy();
      })
      .finally(() => {
        p.deps.log.debug({ method: req.method, path: c.path, status: res.statusCode, ms: p.deps.clock.now() - started }, 'portal request');
      });
  };
}

/** Set-Cookie for the sign-in form's CSRF nonce. */
export function preCookie(p: Portal, nonce: string): string {
  return cookie(PRE_COOKIE, nonce, { path: p.base || '/', secure: p.secure, maxAgeSeconds: 3600 });
}
