/**
 * The configuration schema, written once: every key of the YAML file, its default and its check,
 * and the transform into the typed Config the rest of mailgate reads (types.ts infers the types
 * from here). Every key is also in config/mailgate.example.yaml with a comment; a test loads it.
 * Cross-section rules (a TLS listener needs tls:, at least one front) are in crossChecks().
 */
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import {
  bool,
  cidrList,
  duration,
  field,
  int,
  oneOf,
  optionalSection,
  path,
  readSecret,
  secretKeys,
  section,
  str,
  type LoadContext,
} from './fields.js';
import { joinRollout, rolloutField } from './rollout.js';

export const TLS_MODES = ['none', 'starttls', 'implicit'] as const;
const AUTH_METHODS = ['sasl-proxy', 'separator', 'xclient'] as const;
type AuthMethod = (typeof AUTH_METHODS)[number];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const show = (v: unknown) => JSON.stringify(v);

/** A mapping that must be there (unlike section(), absent is an error with this hint). */
function required<T extends z.ZodType>(schema: T, hint: string) {
  return z
    .preprocess((v) => v ?? undefined, schema.optional())
    .transform((v, ctx) => {
      if (v === undefined) {
        ctx.addIssue({ code: 'custom', message: `required: ${hint}` });
        return z.NEVER;
      }
      return v as NonNullable<typeof v>;
    });
}

const host = field(
  '0.0.0.0',
  (v) => (typeof v === 'string' && (isIP(v) !== 0 || v === 'localhost') ? v : undefined),
  (v) => `expected an IP address, got ${show(v)}`,
);

/**
 * PROXY protocol (v1 or v2) on a listener: a load balancer in TCP mode (HAProxy send-proxy-v2)
 * sends the client's address first. Only the balancers' own addresses may send it, or any client
 * could pick the address its failed logins are counted against.
 */
const proxyKeys = { proxy_protocol: bool(false), proxy_from: cidrList() };
/** `proxyFrom` is there exactly when the listener expects a PROXY header (so code built configs need not name it). */
function proxyFields(o: { proxy_protocol: boolean; proxy_from: string[] }, ctx: z.RefinementCtx): { proxyFrom?: string[] } {
  if (!o.proxy_protocol) return {};
  if (o.proxy_from.length === 0)
    ctx.addIssue({ code: 'custom', path: ['proxy_from'], message: "required with proxy_protocol: the load balancers' networks" });
  return { proxyFrom: o.proxy_from };
}

const listener = section({ host, port: int(0, 0, 65535), tls: oneOf(TLS_MODES, 'starttls'), ...proxyKeys }).transform((o, ctx) => ({
  host: o.host,
  port: o.port,
  tls: o.tls,
  ...proxyFields(o, ctx),
}));

/** One listener or a list of them; at least one. */
const listeners = z.preprocess(
  (v) => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]),
  z.array(listener).min(1, { error: 'at least one listener is needed' }),
);

/** How mailgate logs in upstream on a user's behalf; `allowed` per protocol, the first is the default. */
function upstreamAuth(lc: LoadContext, allowed: readonly AuthMethod[]) {
  return section({
    method: oneOf(allowed as readonly AuthMethod[], allowed[0]!),
    user: str(null),
    ...secretKeys('password'),
    separator: str('*'),
  }).transform((o, ctx) => {
    if (o.method === 'xclient') return { method: 'xclient' as const };
    const password = readSecret(o, 'password', lc, ctx);
    if (!o.user) ctx.addIssue({ code: 'custom', path: ['user'], message: 'required: the master user name' });
    if (password === null)
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message: 'required: the master password (password_env or password_file recommended)',
      });
    const master = { user: o.user ?? '', password: password ?? '' };
    return o.method === 'separator'
      ? { method: 'separator' as const, ...master, separator: o.separator }
      : { method: 'sasl-proxy' as const, ...master };
  });
}

type Protocol = 'imap' | 'smtp' | 'pop3';
const DEFAULT_PORT: Record<Protocol, number> = { imap: 143, smtp: 587, pop3: 110 };

function upstream(lc: LoadContext, protocol: Protocol) {
  const methods: readonly AuthMethod[] = protocol === 'smtp' ? ['xclient', 'sasl-proxy'] : ['sasl-proxy', 'separator'];
  // SMTP may leave auth out (XCLIENT); IMAP and POP3 need the master login.
  const auth =
    protocol === 'smtp'
      ? upstreamAuth(lc, methods)
      : required(upstreamAuth(lc, methods), '{ method: sasl-proxy|separator, user, password_env }');
  return section({
    host: str('127.0.0.1'),
    port: int(DEFAULT_PORT[protocol], 1, 65535),
    tls: oneOf(TLS_MODES, 'starttls'),
    ca: str(null),
    servername: str(null),
    verify: bool(true),
    trusted: bool(true),
    auth,
    connect_timeout: duration(10_000),
    // Ready connections kept for the next logins (net/pool.ts); size 0: off.
    pool: section({
      size: int(0, 0, 64),
      max_age: duration(20_000, { ms: 1000, message: 'expected at least 1s (and well under the upstream pre-login timeout)' }),
    }),
  }).transform((o, ctx) => {
    let ca: string | null = null;
    if (o.ca) {
      try {
        ca = readFileSync(isAbsolute(o.ca) ? o.ca : resolve(lc.baseDir, o.ca), 'utf8');
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['ca'], message: `cannot read ${o.ca}: ${(e as Error).message}` });
      }
    }
    const out = {
      host: o.host,
      port: o.port,
      tls: o.tls,
      /** PEM CA bundle (contents) that verifies the upstream's certificate; null: the system CAs. */
      ca,
      /** TLS server name to verify; null: host. */
      servername: o.servername,
      rejectUnauthorized: o.verify,
      /** The upstream trusts mailgate's address: forward the real client IP (ID, XCLIENT). */
      trusted: o.trusted,
      auth: o.auth,
      connectTimeoutMs: o.connect_timeout,
    };
    // Optional in the type: upstreams built in code (portal check, doctor, tests) have no pool.
    const pool: { pool?: { size: number; maxAgeMs: number } } = { pool: { size: o.pool.size, maxAgeMs: o.pool.max_age } };
    return { ...out, ...pool };
  });
}

/** imap: and pop3: have the same shape; smtp: adds `hostname` (its name in the greeting). */
function protocolSection(lc: LoadContext, protocol: 'imap' | 'pop3') {
  return section({ listen: listeners, upstream: required(upstream(lc, protocol), '{ host, port, tls, auth }') });
}
function smtpSection(lc: LoadContext) {
  return section({ listen: listeners, upstream: required(upstream(lc, 'smtp'), '{ host, port, tls, auth }'), hostname: str('mailgate') });
}

function postgresSection(lc: LoadContext) {
  return section({
    ...secretKeys('url'),
    pool_size: int(10, 1, 1000),
    statement_timeout: duration(5000, { ms: 100, message: 'expected at least 100ms' }),
  }).transform((o, ctx) => {
    const url = readSecret(o, 'url', lc, ctx);
    if (url === null && o.url === null && o.url_env === null && o.url_file === null) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'required: url_env (e.g. MAILGATE_DATABASE_URL), url_file or url' });
    } else if (url !== null && !/^postgres(ql)?:\/\//.test(url)) {
      // Never echo the value: it usually carries the database password.
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected a postgres:// or postgresql:// URL' });
    }
    return { url: url ?? '', poolSize: o.pool_size, statementTimeoutMs: o.statement_timeout };
  });
}

/** redis: { url|url_env|url_file, prefix }: the state several instances share (src/shared/). */
function redisSection(lc: LoadContext) {
  return section({ ...secretKeys('url'), prefix: str('mailgate:') }).transform((o, ctx) => {
    const url = readSecret(o, 'url', lc, ctx);
    if (url === null && o.url === null && o.url_env === null && o.url_file === null) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'required: url_env (e.g. MAILGATE_REDIS_URL), url_file or url' });
    } else if (url !== null && !/^rediss?:\/\//.test(url)) {
      // Never echo the value: it may carry the Redis password.
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'expected a redis:// or rediss:// URL' });
    }
    return { url: url ?? '', prefix: o.prefix };
  });
}

/** store: { sqlite: FILE } (default ./data/mailgate.db) or { postgres: { url|url_env|url_file, … } }. */
function storeSection(lc: LoadContext) {
  return section({ sqlite: str(null), postgres: optionalSection(postgresSection(lc)), row_cache_ttl: duration(5_000) }).transform(
    (o, ctx) => {
      // row_cache_ttl: how long `serve` may answer logins from its in-memory copy of account and
      // passcode rows (store/row-cache.ts) should every invalidation fail; 0: no cache.
      const rowCacheTtlMs = o.row_cache_ttl;
      if (!o.postgres) return { sqlite: resolve(lc.baseDir, o.sqlite ?? './data/mailgate.db'), postgres: null, rowCacheTtlMs };
      if (o.sqlite !== null) ctx.addIssue({ code: 'custom', message: 'set exactly one of sqlite and postgres' });
      return { sqlite: null, postgres: o.postgres, rowCacheTtlMs };
    },
  );
}

function domainName(v: unknown, ctx: z.RefinementCtx, at: (string | number)[]): string | null {
  const d = typeof v === 'string' ? v.trim().toLowerCase().replace(/^@/, '') : '';
  if (!/^[^\s@*]+$/u.test(d) || d.split('.').some((l) => l === '')) {
    ctx.addIssue({ code: 'custom', path: at, message: `expected a domain like example.com, got ${show(v)}` });
    return null;
  }
  return d.normalize('NFC');
}

/** identity: how a typed name becomes the one account name (core/identity.ts). */
const identity = section({ default_domain: z.unknown().optional(), domains: z.unknown().optional() }).transform((o, ctx) => {
  const defaultDomain =
    o.default_domain === undefined || o.default_domain === null ? null : domainName(o.default_domain, ctx, ['default_domain']);
  let domains: string[] | null = null;
  if (o.domains !== undefined && o.domains !== null) {
    if (!Array.isArray(o.domains) || o.domains.length === 0)
      ctx.addIssue({ code: 'custom', path: ['domains'], message: 'expected a non-empty list of domains (omit it to accept any domain)' });
    else domains = o.domains.map((d, i) => domainName(d, ctx, ['domains', i])).filter((d): d is string => d !== null);
  }
  if (defaultDomain && domains && !domains.includes(defaultDomain)) {
    ctx.addIssue({
      code: 'custom',
      path: ['default_domain'],
      message: `${defaultDomain} is not in identity.domains: bare names would all be refused`,
    });
  }
  return { defaultDomain, domains };
});

/** enforce/observe: the rollout entries (config/rollout.ts); plain strings mean "enforce now". */
const policy = section({
  enforce: rolloutField('enforce'),
  observe: rolloutField('observe'),
  exempt_networks: cidrList(),
  allow_plaintext_auth: bool(false),
}).transform((o, ctx) => ({
  enforce: joinRollout(o.enforce, o.observe, ctx),
  exemptNetworks: o.exempt_networks,
  allowPlaintextAuth: o.allow_plaintext_auth,
}));

const auth = () =>
  section({
    bcrypt_cost: int(10, 4, 15),
    // One core is left to the event loop that splices everyone's traffic: with bcrypt on every
    // core, a cold-login storm added 6 ms to other sessions' p99 in the bench, 2 ms with one less.
    // Unset: cores - 1, shared out between `limits.workers` processes (runtime/cluster-worker.ts).
    hash_workers: int(null, 1, 64),
    // Nice value of the hash threads: the kernel runs the splice first (bench: head-of-line phase).
    hash_nice: int(10, 0, 19),
    cache_ttl: duration(5 * 60_000),
    failure_delay: duration(2_000),
    failure_jitter: duration(null),
    // Tell a refused mail app on an enforced account that it needs an app passcode (and where to get one).
    refusal_hint: bool(true),
    throttle: section({
      max_delay: duration(15_000),
      block_after: int(10, 1, 1_000_000),
      block_for: duration(15 * 60_000),
      window: duration(15 * 60_000),
      account_ceiling: int(30, 1, 1_000_000),
    }),
  }).transform(({ throttle: t, ...o }) => ({
    bcryptCost: o.bcrypt_cost,
    /** null (unset): runtime/hasher.ts defaultHashThreads, cores − 1 shared out between `serve --workers` processes. */
    hashWorkers: o.hash_workers,
    hashNice: o.hash_nice,
    cacheTtlMs: o.cache_ttl,
    failureDelayMs: o.failure_delay,
    // A quarter of the delay by default: wide enough to cover an upstream's own failure delay
    // (Dovecot answers within about ±0.5 s of its auth_failure_delay).
    failureJitterMs: o.failure_jitter ?? Math.round(o.failure_delay / 4),
    refusalHint: o.refusal_hint,
    throttle: {
      maxDelayMs: t.max_delay,
      blockAfter: t.block_after,
      blockForMs: t.block_for,
      windowMs: t.window,
      accountCeiling: t.account_ceiling,
    },
  }));

const limits = section({
  idle_timeout: duration(60_000),
  max_bad_commands: int(5, 1, 1000),
  max_line: int(8192, 512, 1 << 20),
  max_literal: int(8192, 512, 1 << 20),
  max_prelogin_commands: int(50, 5, 10_000),
  max_prelogin_per_ip: int(1000, 1, 100_000),
  max_connections: int(20_000, 1, 1_000_000),
  shutdown_grace: duration(30_000),
  // Processes serving the listeners (node:cluster); 1: no cluster, one process as before.
  workers: int(1, 1, 256),
}).transform((o) => ({
  idleTimeoutMs: o.idle_timeout,
  maxBadCommands: o.max_bad_commands,
  maxLineBytes: o.max_line,
  maxLiteralBytes: o.max_literal,
  maxPreLoginCommands: o.max_prelogin_commands,
  maxPreLoginPerIp: o.max_prelogin_per_ip,
  maxConnections: o.max_connections,
  shutdownGraceMs: o.shutdown_grace,
  workers: o.workers,
}));

const publicUrl = field<string | null>(
  null,
  (v) => (typeof v === 'string' && /^https?:\/\/[^/\s]+\S*$/.test(v) ? v : undefined),
  (v) => `expected an http(s) URL, got ${show(v)}`,
);

// The server name mail apps are told to use (setup steps, Apple profile, Thunderbird autoconfig).
const mailHost = field<string | null>(
  null,
  (v) =>
    typeof v === 'string' && /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(v)
      ? v.toLowerCase()
      : undefined,
  (v) => `expected a host name like mail.example.com, got ${show(v)}`,
);
// A logo on the portal's own origin ("/logo.svg") or an https URL (its origin is added to the CSP's img-src).
const logoUrl = field<string | null>(
  null,
  (v) => (typeof v === 'string' && (/^https:\/\/[^/\s"]+\/[^\s"]*$/.test(v) || /^\/[^/\s"][^\s"]*$/.test(v)) ? v : undefined),
  (v) => `expected an https URL or a path starting with /, got ${show(v)}`,
);

const portal = section({
  listen: section({ host: str('127.0.0.1'), port: int(8080, 0, 65535), ...proxyKeys }).transform((o, ctx) => ({
    host: o.host,
    port: o.port,
    ...proxyFields(o, ctx),
  })),
  public_url: publicUrl,
  trusted_proxies: cidrList(),
  first_enrolment: oneOf(['open', 'code'] as const, 'open'),
  public_imap_host: mailHost,
  public_smtp_host: mailHost,
  brand: section({ name: str('Mail account security'), logo_url: logoUrl }).transform((b) => ({ name: b.name, logoUrl: b.logo_url })),
}).transform((o) => ({
  listen: o.listen,
  publicUrl: o.public_url,
  trustedProxies: o.trusted_proxies,
  firstEnrolment: o.first_enrolment,
  publicImapHost: o.public_imap_host,
  publicSmtpHost: o.public_smtp_host ?? o.public_imap_host,
  brand: o.brand,
}));

// It becomes a header line as written: one address, no line breaks or control characters.
// eslint-disable-next-line no-control-regex
const ONE_ADDRESS = (s: string) =>
  !/[\u0000-\u001f\u007f]/.test(s) && s.length <= 300 && /^(?:[^<>@]*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/.test(s.trim());
const notifyFrom = field<string | null>(
  null,
  (v) => (typeof v === 'string' && ONE_ADDRESS(v) ? v.trim() : undefined),
  (v) =>
    `expected one address like "Mail security <postmaster@example.com>" or postmaster@example.com, got ${show(String(v).slice(0, 100))}`,
);

/** The whole file; `file` is where it was read from (null: built in memory). */
export function configSchema(lc: LoadContext, file: string | null) {
  return section({
    store: storeSection(lc),
    // Absent: every instance keeps its guard and pushes to itself (one box, the demo).
    redis: optionalSection(redisSection(lc)),
    audit: section({
      retention: duration(null, { ms: 86_400_000, message: 'expected at least 1d (or leave it unset to keep every event)' }),
      // Login events and last-use are committed once per this interval (store/write-batch.ts); 0s: at once.
      write_batch: duration(50),
    }),
    secret_file: path(lc, './data/secret.key'),
    tls: optionalSection(section({ cert: path(lc, ''), key: path(lc, '') })),
    imap: optionalSection(protocolSection(lc, 'imap')),
    smtp: optionalSection(smtpSection(lc)),
    pop3: optionalSection(protocolSection(lc, 'pop3')),
    identity,
    policy,
    auth: auth(),
    limits,
    log: section({ level: oneOf(LOG_LEVELS, 'info') }),
    portal: optionalSection(portal),
    // The admin API is simply off when its variable is unset.
    admin: section({ ...secretKeys('token') }).transform((o, ctx) => ({ token: readSecret(o, 'token', lc, ctx, true) })),
    notify: section({ enabled: bool(true), from: notifyFrom }),
    // Off unless set; the owner is warned a week before, so shorter than 8 days makes no sense.
    passcodes: section({
      expire_unused: duration(null, {
        ms: 8 * 86_400_000,
        message: 'expected at least 8d (the owner is warned a week before), or leave it unset',
      }),
    }),
    // Prometheus /metrics, /healthz, /readyz on their own listener (internal network); absent: off.
    metrics: optionalSection(section({ listen: section({ host: str('127.0.0.1'), port: int(9187, 0, 65535) }) })),
  }).transform((o) => ({
    /** Absolute path of the file this was loaded from (relative paths in it resolve against its folder). */
    file,
    store: o.store,
    redis: o.redis,
    audit: { retentionMs: o.audit.retention, writeBatchMs: o.audit.write_batch },
    secretFile: o.secret_file,
    tls: o.tls,
    imap: o.imap,
    smtp: o.smtp,
    pop3: o.pop3,
    identity: o.identity,
    policy: o.policy,
    auth: o.auth,
    limits: o.limits,
    log: o.log,
    portal: o.portal,
    admin: o.admin,
    notify: o.notify,
    passcodes: { expireUnusedMs: o.passcodes.expire_unused },
    metrics: o.metrics,
  }));
}

/** Rules across sections, checked on the document as written (so they are reported along with every key's own problems). */
export function crossChecks(root: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const present = (k: string) => root[k] !== undefined && root[k] !== null;
  if (!present('imap') && !present('smtp') && !present('pop3')) problems.push('(top): configure at least one of imap, smtp or pop3');
  const listens = ['imap', 'smtp', 'pop3'].flatMap((k) => {
    const l = (root[k] as { listen?: unknown } | null | undefined)?.listen;
    return Array.isArray(l) ? l : l === undefined || l === null ? [] : [l];
  });
  // A listener without tls: is starttls, and an invalid mode is counted as needing TLS too.
  const needsTls = listens.some((l) => (l as { tls?: unknown } | null)?.tls !== 'none');
  if (needsTls && !present('tls')) problems.push('tls: a listener uses TLS: set tls.cert and tls.key (PEM files)');
  return problems;
}
