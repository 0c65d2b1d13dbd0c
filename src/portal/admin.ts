/**
 * The admin JSON API under /api/admin, for scripts and help desks: the same verbs as the CLI.
 * Authenticated with a bearer token from the configuration, compared in constant time; wrong
 * tokens are throttled per client IP like wrong passwords.
 */
import { parseNetworks } from '../core/passcode-limits.js';
import { isIP } from 'node:net';
import { appendAudit } from '../core/audit.js';
import { sourceOf } from '../core/guard.js';
import type { Identity } from '../core/identity.js';
import { parseDuration } from '../config/load.js';
import { UsageError } from '../core/manage.js';
import { rolloutReport } from '../core/rollout-report.js';
import { PROTOCOLS, type AuditQuery, type Protocol } from '../store/types.js';
import { sameSecret } from './csrf.js';
import { HttpError, readBody, sendJson } from './http.js';
import type { Ctx, Portal } from './types.js';

type Json = Record<string, unknown>;
interface Call {
  p: Portal;
  c: Ctx;
  user: string;
  id: string;
  body: Json;
}
interface Endpoint {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  pattern: RegExp;
  run(x: Call): Promise<[number, unknown]>;
}

const A = { actor: 'api' };
const ok = (v: unknown): [number, unknown] => [200, v];

function scopesOf(v: unknown): Protocol[] {
  if (v === undefined) return ['imap', 'smtp'];
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => (PROTOCOLS as readonly unknown[]).includes(s))) {
    throw new UsageError(`"scopes" must be a non-empty list of ${PROTOCOLS.join(', ')}`);
  }
  return v as Protocol[];
}

/** "allowedNetworks": a list of CIDR strings, or null for anywhere (the manager checks each). */
function networksOf(v: unknown): string[] | null {
  if (v === null) return null;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string'))
    throw new UsageError('"allowedNetworks" must be a list of networks like ["192.0.2.0/24"], or null for anywhere');
  try {
    return parseNetworks(v as string[]);
  } catch (e) {
    throw new UsageError(`"allowedNetworks": ${(e as Error).message}`);
  }
}

function auditQuery(q: URLSearchParams, identity: Identity): AuditQuery {
  const num = (name: string, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = q.get(name);
    if (v === null) return undefined;
    const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(n) || n < 0 || n > max)
      throw new UsageError(`"${name}" must be a number${name === 'since' ? ' (ms) or an ISO date' : ''}`);
    return n;
  };
  const user = q.get('user');
  // The account as every other part names it: ?user=alice finds alice@example.com's events.
  const username = user ? (identity.canonical(user) ?? user.trim().toLowerCase()) : undefined;
  const afterId = num('after');
  // A reader following with ?after= must page forward, never skip events between two reads.
  return {
    username,
    type: q.get('type') || undefined,
    since: num('since'),
    afterId,
    limit: num('limit', 1000) ?? 100,
    oldestFirst: afterId !== undefined,
  };
}

async function accountDetail(p: Portal, user: string) {
  const a = await p.deps.manager.showAccount(user);
  const live = (id: string) => p.deps.sessions.count({ passcodeId: id });
  return {
    ...a,
    passcodeList: a.passcodeList.map((pc) => ({ ...pc, liveSessions: live(pc.id) })),
    twoFactor: await p.tf.status(user),
    liveSessions: p.deps.sessions.count({ account: a.username }),
  };
}

/**
 * Lifts a block like `mailgate unblock IP`: the `admin.unblock` audit event reaches every other
 * instance (pushed with redis, polled without), and this instance's guard lifts it at once.
 */
async function liftBlock(p: Portal, ip: string): Promise<{ source: string; lifted: boolean }> {
  if (isIP(ip) === 0 && !/^[0-9a-f:]+::\/64$/i.test(ip)) throw new UsageError(`not an IP address: ${ip.slice(0, 60)}`);
  const source = ip.endsWith('/64') ? ip : sourceOf(ip);
  await appendAudit(p.deps.store, p.deps.clock, { type: 'admin.unblock', ip: source, outcome: 'ok', detail: { source, actor: 'api' } });
  return { source, lifted: await p.guard.unblock(source) };
}

const ACCOUNT = '/api/admin/accounts/([^/]+)';
const ENDPOINTS: Endpoint[] = [
  { method: 'GET', pattern: /^\/api\/admin\/accounts$/, run: async ({ p }) => ok(await p.deps.manager.listAccounts()) },
  { method: 'GET', pattern: new RegExp(`^${ACCOUNT}$`), run: async ({ p, user }) => ok(await accountDetail(p, user)) },
  {
    method: 'POST',
    pattern: new RegExp(`^${ACCOUNT}/enforce$`),
    run: async ({ p, user, body }) => ok(await p.deps.manager.setEnforcement(user, body.enforced !== false, A.actor)),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${ACCOUNT}/release$`),
    run: async ({ p, user }) => ok(await p.deps.manager.setEnforcement(user, null, A.actor)),
  },
  {
    method: 'GET',
    pattern: new RegExp(`^${ACCOUNT}/passcodes$`),
    run: async ({ p, user }) => ok((await accountDetail(p, user)).passcodeList),
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${ACCOUNT}/passcodes$`),
    async run({ p, user, body }) {
      if (typeof body.name !== 'string') throw new UsageError('"name" is required, e.g. {"name": "Thunderbird laptop"}');
      let expiresAt: number | null = null;
      if (body.expires !== undefined && body.expires !== null) {
        const d = typeof body.expires === 'string' ? parseDuration(body.expires) : null;
        if (d === null || d <= 0) throw new UsageError('"expires" takes a duration like "90d", "12h" or "30m"');
        expiresAt = p.deps.clock.now() + d;
      }
      const allowedNetworks = body.allowedNetworks === undefined ? null : networksOf(body.allowedNetworks);
      const opts = { name: body.name, scopes: scopesOf(body.scopes), expiresAt, allowedNetworks };
      const r = await p.deps.manager.createPasscode(user, opts, A.actor);
      return [201, { passcode: r.formatted, ...r.info }];
    },
  },
  {
    method: 'DELETE',
    pattern: new RegExp(`^${ACCOUNT}/passcodes/([^/]+)$`),
    async run({ p, user, id }) {
      const r = await p.deps.manager.revokePasscode(user, id, A.actor);
      return r.revoked ? ok(r) : [404, { error: `no active passcode ${id} for ${user}`, ...r }];
    },
  },
  {
    method: 'PATCH',
    pattern: new RegExp(`^${ACCOUNT}/passcodes/([^/]+)$`),
    // Any of "scopes", "name", "allowedNetworks"; each checked before any is applied.
    async run({ p, user, id, body }) {
      const m = p.deps.manager;
      const { scopes, name, allowedNetworks } = body;
      if (scopes === undefined && name === undefined && allowedNetworks === undefined)
        throw new UsageError('give "scopes", "name" or "allowedNetworks", e.g. {"scopes": ["imap"]}');
      if (name !== undefined && (typeof name !== 'string' || !name.trim() || name.trim().length > 100))
        throw new UsageError('"name" must be 1 to 100 characters');
      const list = scopes === undefined ? undefined : scopesOf(scopes);
      const nets = allowedNetworks === undefined ? undefined : networksOf(allowedNetworks);
      let sessionsClosed = 0;
      let updated = true;
      if (list) ({ updated, sessionsClosed } = await m.setPasscodeScopes(user, id, list, A.actor));
      if (updated && nets !== undefined) {
        const r = await m.setPasscodeNetworks(user, id, nets, A.actor);
        updated = r.updated;
        sessionsClosed += r.sessionsClosed;
      }
      if (updated && typeof name === 'string') updated = (await m.renamePasscode(user, id, name, A.actor)).updated;
      const r = { updated, sessionsClosed };
      return updated ? ok(r) : [404, { error: `no active passcode ${id} for ${user}`, ...r }];
    },
  },
  { method: 'DELETE', pattern: new RegExp(`^${ACCOUNT}/totp$`), run: async ({ p, user }) => ok(await p.tf.reset(user, A)) },
  {
    method: 'POST',
    pattern: new RegExp(`^${ACCOUNT}/enrol-code$`),
    async run({ p, user, body }) {
      const ttl =
        body.expires === undefined || body.expires === null
          ? undefined
          : typeof body.expires === 'string'
            ? parseDuration(body.expires)
            : null;
      if (ttl === null || (ttl !== undefined && ttl <= 0)) throw new UsageError('"expires" takes a duration like "7d", "12h" or "30m"');
      return [201, await p.tf.issueEnrolCode(user, A, ttl)];
    },
  },
  {
    method: 'POST',
    pattern: new RegExp(`^${ACCOUNT}/emergency-codes$`),
    run: async ({ p, user }) => [201, { codes: await p.tf.regenerateCodes(user, A) }],
  },
  { method: 'GET', pattern: /^\/api\/admin\/blocks$/, run: async ({ p }) => ok(await p.guard.blocks()) },
  { method: 'DELETE', pattern: /^\/api\/admin\/blocks\/([^/]+)$/, run: async ({ p, user: ip }) => ok(await liftBlock(p, ip)) },
  {
    // The same report as `mailgate report rollout` (one function builds both).
    method: 'GET',
    pattern: /^\/api\/admin\/rollout$/,
    run: async ({ p, c }) =>
      ok(
        await rolloutReport(
          { store: p.deps.store, policy: p.deps.policy, clock: p.deps.clock, expireUnusedMs: p.deps.manager.expireUnusedMs },
          c.query.get('domain') ?? undefined,
        ),
      ),
  },
  {
    method: 'GET',
    pattern: /^\/api\/admin\/audit$/,
    run: async ({ p, c }) => ok(await p.deps.store.queryAudit(auditQuery(c.query, p.deps.identity))),
  },
];

/** True when the request carries the configured token; answers 401/403/429 itself otherwise. */
async function authorized(p: Portal, c: Ctx): Promise<boolean> {
  const token = p.deps.admin.token;
  if (!token) {
    sendJson(c.res, 403, { error: 'the admin API is off: set admin.token, admin.token_env or admin.token_file in the configuration' });
    return false;
  }
  const wait = await p.guard.waitMs('admin-token', c.ip, null);
  if (wait > 0) {
    sendJson(
      c.res,
      429,
      { error: 'too many wrong tokens from this address; wait and retry' },
      { 'Retry-After': String(Math.ceil(wait / 1000)) },
    );
    return false;
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(c.req.headers.authorization ?? '');
  if (m?.[1] && sameSecret(m[1], token)) return true;
  await p.guard.fail('admin-token', c.ip, null);
  p.deps.log.warn({ ip: c.ip, path: c.path }, 'admin API: missing or wrong bearer token');
  sendJson(
    c.res,
    401,
    { error: 'a valid bearer token is required: Authorization: Bearer <admin token>' },
    { 'WWW-Authenticate': 'Bearer realm="mailgate admin"' },
  );
  return false;
}

async function jsonBody(c: Ctx): Promise<Json> {
  const text = await readBody(c.req, 64 * 1024);
  if (!text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'the body is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'the body must be a JSON object');
  return v as Json;
}

export async function handleAdmin(p: Portal, c: Ctx): Promise<void> {
  if (!(await authorized(p, c))) return;
  const matches = ENDPOINTS.map((e) => ({ e, m: e.pattern.exec(c.path) })).filter((x) => x.m);
  const hit = matches.find((x) => x.e.method === c.req.method);
  if (!hit) {
    if (matches.length) return sendJson(c.res, 405, { error: 'method not allowed' }, { Allow: matches.map((x) => x.e.method).join(', ') });
    return sendJson(c.res, 404, { error: 'no such endpoint; see the README for the admin API' });
  }
  try {
    const [user = '', id = ''] = hit.m!.slice(1).map((s) => decodeURIComponent(s));
    const body = c.req.method === 'GET' ? {} : await jsonBody(c);
    const [status, value] = await hit.e.run({ p, c, user, id, body });
    if (c.req.method !== 'GET') p.deps.log.info({ method: c.req.method, path: c.path, status, ip: c.ip }, 'admin API call');
    sendJson(c.res, status, value);
  } catch (e) {
    if (e instanceof UsageError) return sendJson(c.res, 400, { error: e.message });
    if (e instanceof URIError) return sendJson(c.res, 400, { error: 'malformed percent-encoding in the path' });
    if (e instanceof HttpError) return sendJson(c.res, e.status, { error: e.message });
    throw e;
  }
}
