/**
 * A portal on port 0 over an in-memory store, with a fake upstream password check and an
 * injectable clock, plus a tiny cookie-keeping HTTP client. For the HTTP-level portal tests; the
 * browser test runs the real thing in front of Dovecot.
 */
import { AuthGuard, DEFAULT_GUARD, type DelayPolicy } from '../../src/core/guard.js';
import { localGuard } from '../../src/core/guard-port.js';
import { Identity } from '../../src/core/identity.js';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Writable } from 'node:stream';
import { deriveKeys } from '../../src/core/keys.js';
import { createManager, type Manager } from '../../src/core/manage.js';
import { SessionRegistry } from '../../src/core/sessions.js';
import { totpCode } from '../../src/core/totp.js';
import { createHasher } from '../../src/runtime/hasher.js';
import { createLogger } from '../../src/runtime/logger.js';
import { startPortal, type PortalDeps } from '../../src/portal/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const PASSWORDS: Record<string, string> = { 'alice@example.com': 'alice-main-pw', 'bob@example.com': 'bob-main-pw' };

export interface Harness {
  url: string;
  store: Store;
  manager: Manager;
  sessions: SessionRegistry;
  clock: { t: number; now(): number };
  policy: { enforce: 'all' | string[] };
  /** Calls of the fake upstream password check. */
  logins: string[];
  logs(): string;
  close(): Promise<void>;
}

/**
 * `throttle` shortens or lengthens the timing of the portal's delay policies. Without a `guard`
 * the portal gets one whose mail-login policy never blocks (the mail fronts' guard is not part of
 * this harness), as before the portal's throttles moved into the guard.
 */
export async function startHarness(opts: Partial<PortalDeps> & { throttle?: Partial<DelayPolicy> } = {}): Promise<Harness> {
  const { throttle, ...over } = opts;
  const store = await openSqliteStore(':memory:');
  const keys = deriveKeys(randomBytes(32));
  const clock = {
    t: 1_760_000_000_000,
    now() {
      return this.t;
    },
  };
  const hasher = createHasher({ size: 1, cost: 4 });
  const sessions = new SessionRegistry();
  const policy: Harness['policy'] = { enforce: [] };
  const identity = over.identity ?? new Identity();
  const manager = createManager({ store, hasher, keys, clock, random: randomBytes, policy, sessions, identity });
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(c, _e, cb) {
        lines.push(String(c));
        cb();
      },
    }),
  });
  const logins: string[] = [];
  const guard = new AuthGuard(clock, { ...DEFAULT_GUARD, blockAfter: 1e9, accountCeiling: 1e9 }, undefined, {
    'portal-password': throttle,
    'portal-code': throttle,
    'admin-token': throttle,
  });
  const portal = await startPortal({
    guard: localGuard(guard),
    store,
    manager,
    hasher,
    keys,
    clock,
    sessions,
    policy,
    log,
    identity,
    portal: { listen: { host: '127.0.0.1', port: 0 }, publicUrl: null, trustedProxies: [], firstEnrolment: 'open' },
    admin: { token: ADMIN_TOKEN },
    mail: { host: 'mail.example.com', imap: [{ port: 993, tls: 'implicit' }], smtp: [{ port: 587, tls: 'starttls' }] },
    imapLogin: async (user, password) => {
      logins.push(user);
      return PASSWORDS[user.toLowerCase()] === password;
    },
    ...over,
  });
  return {
    url: `${over.tls ? 'https' : 'http'}://127.0.0.1:${portal.address.port}`,
    store,
    manager,
    sessions,
    clock,
    policy,
    logins,
    logs: () => lines.join(''),
    async close() {
      await portal.close();
      await hasher.close();
      await store.close();
    },
  };
}

export interface Res {
  status: number;
  headers: Map<string, string>;
  text: string;
  setCookies: string[];
}

/** One HTTP(S) exchange with node's client (so a test CA can be passed for HTTPS). */
function exchange(url: string, method: string, headers: Record<string, string>, body: string | undefined, ca?: Buffer): Promise<Res> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      u,
      {
        method,
        headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
        ...(ca ? { ca } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h = new Map<string, string>();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          const sc = res.headers['set-cookie'] ?? [];
          resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8'), setCookies: sc });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A cookie-keeping client that does not follow redirects (tests look at them). */
export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly base: string,
    private readonly ca?: Buffer,
  ) {}

  async request(
    method: string,
    path: string,
    body?: Record<string, string | string[]>,
    headers: Record<string, string> = {},
  ): Promise<Res> {
    const form = new URLSearchParams();
    for (const [k, v] of Object.entries(body ?? {})) for (const x of [v].flat()) form.append(k, x);
    const res = await exchange(
      `${this.base}${path}`,
      method,
      {
        ...(this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body ? form.toString() : undefined,
      this.ca,
    );
    for (const c of res.setCookies) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      if (/Max-Age=0/i.test(c)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1));
    }
    return res;
  }

  get(path: string): Promise<Res> {
    return this.request('GET', path);
  }

  /** Follows a 303 (POST-redirect-GET: pages that show a secret once are reached this way). */
  async follow(res: Res): Promise<Res> {
    const to = res.status === 303 ? res.headers.get('location') : null;
    return to ? this.get(to) : res;
  }

  /** Posts a form, taking the CSRF token from the page at `from` (default: the same path). */
  async submit(path: string, fields: Record<string, string | string[]>, from = path): Promise<Res> {
    const page = await this.get(from);
    return this.request('POST', path, { _csrf: csrfOf(page.text), ...fields });
  }

  async signIn(user = 'alice@example.com', password = PASSWORDS[user]!): Promise<Res> {
    return this.submit('/signin', { username: user, password });
  }
}

export function csrfOf(page: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(page);
  if (!m?.[1]) throw new Error(`no CSRF token on the page:\n${page.slice(0, 500)}`);
  return m[1];
}

/** The manual key shown while enrolling, without spaces. */
export function manualKeyOf(page: string): string {
  const m = /id="manual-key">([A-Z2-7 ]+)</.exec(page);
  if (!m?.[1]) throw new Error('no manual key on the page');
  return m[1].replace(/ /g, '');
}

/** Signs in and turns 2FA on; returns the secret and the emergency codes the page showed. */
export async function enrol(b: Browser, h: Harness): Promise<{ secret: string; codes: string[] }> {
  await b.signIn();
  const page = await b.get('/enable');
  const secret = manualKeyOf(page.text);
  const done = await b.follow(await b.request('POST', '/enable', { _csrf: csrfOf(page.text), code: totpCode(secret, h.clock.now()) }));
  if (done.status !== 200) throw new Error(`enrolment failed: ${done.status}`);
  const codes = [...done.text.matchAll(/<li>([a-z2-9]{5}-[a-z2-9]{5})<\/li>/g)].map((m) => m[1]!);
  return { secret, codes };
}
