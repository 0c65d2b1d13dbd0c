/**
 * Loads the YAML configuration once, validates every key and returns a frozen Config.
 * All problems are collected and reported together, each with its key path, so an admin can fix
 * the file in one go. Secrets may be given inline, via `*_env` (environment variable) or
 * `*_file` (file contents, trimmed).
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { parse as parseYaml } from 'yaml';
import type { IdentityConfig } from '../core/identity.js';
import type {
  Config, ListenConfig, PolicyConfig, PostgresConfig, ProtocolConfig, TlsMode, UpstreamAuth, UpstreamConfig,
} from './types.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[], file: string | null) {
    super(`invalid configuration${file ? ` in ${file}` : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Collects problems while reading a YAML tree; every accessor returns a usable default on error. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly baseDir: string, private readonly env: NodeJS.ProcessEnv) {}

  problem(path: string, msg: string): void { this.problems.push(`${path}: ${msg}`); }

  obj(parent: Obj, key: string, path: string): Obj | null {
    const v = parent[key];
    if (v === undefined || v === null) return null;
    if (!isObj(v)) { this.problem(path, 'expected a mapping'); return null; }
    return v;
  }

  unknownKeys(o: Obj, allowed: string[], path: string): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.problem(path ? `${path}.${k}` : k, `unknown key (allowed: ${allowed.join(', ')})`);
    }
  }

  str(o: Obj, key: string, path: string, def: string): string;
  str(o: Obj, key: string, path: string, def: null): string | null;
  str(o: Obj, key: string, path: string, def: string | null): string | null {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' && typeof v !== 'number') { this.problem(`${path}.${key}`, 'expected a string'); return def; }
    return String(v);
  }

  bool(o: Obj, key: string, path: string, def: boolean): boolean {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'boolean') { this.problem(`${path}.${key}`, 'expected true or false'); return def; }
    return v;
  }

  int(o: Obj, key: string, path: string, def: number, min: number, max: number): number {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.problem(`${path}.${key}`, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return def;
    }
    return v;
  }

  /** Durations: a number of seconds or "90s", "5m", "12h", "90d". */
  duration(o: Obj, key: string, path: string, defMs: number): number {
    const v = o[key];
    if (v === undefined || v === null) return defMs;
    const ms = parseDuration(v);
    if (ms === null) { this.problem(`${path}.${key}`, `expected a duration like 500ms, 30s, 5m, 12h or 90d, got ${JSON.stringify(v)}`); return defMs; }
    return ms;
  }

  path(o: Obj, key: string, path: string, def: string): string {
    return this.resolvePath(this.str(o, key, path, def));
  }

  resolvePath(p: string): string { return isAbsolute(p) ? p : resolve(this.baseDir, p); }

  /** A secret from `key`, `key_env` or `key_file`; exactly one may be set. `optional`: an unset variable means "none". */
  secret(o: Obj, key: string, path: string, optional = false): string | null {
    const inline = this.str(o, key, path, null);
    const envName = this.str(o, `${key}_env`, path, null);
    const file = this.str(o, `${key}_file`, path, null);
    const given = [inline, envName, file].filter((x) => x !== null).length;
    if (given > 1) { this.problem(`${path}.${key}`, `set only one of ${key}, ${key}_env, ${key}_file`); return null; }
    if (inline !== null) return inline;
    if (envName !== null) {
      const v = this.env[envName];
      if (v === undefined || v === '') { if (!optional) this.problem(`${path}.${key}_env`, `environment variable ${envName} is not set`); return null; }
      return v;
    }
    if (file !== null) {
      try { return readFileSync(this.resolvePath(file), 'utf8').trim(); } catch (e) {
        this.problem(`${path}.${key}_file`, `cannot read ${file}: ${(e as Error).message}`); return null;
      }
    }
    return null;
  }
}

export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) return null;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

const TLS_MODES: TlsMode[] = ['none', 'starttls', 'implicit'];

function tlsMode(r: Reader, o: Obj, path: string, def: TlsMode): TlsMode {
  const v = r.str(o, 'tls', path, def);
  if (!TLS_MODES.includes(v as TlsMode)) { r.problem(`${path}.tls`, `expected one of ${TLS_MODES.join(', ')}, got ${JSON.stringify(v)}`); return def; }
  return v as TlsMode;
}

function listeners(r: Reader, o: Obj, path: string): ListenConfig[] {
  const v = o.listen;
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  if (list.length === 0) r.problem(`${path}.listen`, 'at least one listener is needed');
  return list.map((item, i) => {
    const p = `${path}.listen[${i}]`;
    if (!isObj(item)) { r.problem(p, 'expected a mapping with port (and optional host, tls)'); return { host: '127.0.0.1', port: 0, tls: 'none' as TlsMode }; }
    r.unknownKeys(item, ['host', 'port', 'tls'], p);
    const host = r.str(item, 'host', p, '0.0.0.0');
    if (isIP(host) === 0 && host !== 'localhost') r.problem(`${p}.host`, `expected an IP address, got ${JSON.stringify(host)}`);
    return { host, port: r.int(item, 'port', p, 0, 0, 65535), tls: tlsMode(r, item, p, 'starttls') };
  });
}

function upstreamAuth(r: Reader, o: Obj | null, path: string, protocol: 'imap' | 'smtp' | 'pop3'): UpstreamAuth {
  const def: UpstreamAuth = protocol === 'smtp' ? { method: 'xclient' } : { method: 'sasl-proxy', user: '', password: '' };
  if (!o) { if (protocol !== 'smtp') r.problem(path, 'required: { method: sasl-proxy|separator, user, password_env }'); return def; }
  r.unknownKeys(o, ['method', 'user', 'password', 'password_env', 'password_file', 'separator'], path);
  const method = r.str(o, 'method', path, def.method);
  const allowed = protocol === 'smtp' ? ['sasl-proxy', 'xclient'] : ['sasl-proxy', 'separator'];
  if (!allowed.includes(method)) { r.problem(`${path}.method`, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(method)}`); return def; }
  if (method === 'xclient') return { method: 'xclient' };
  const user = r.str(o, 'user', path, null);
  const password = r.secret(o, 'password', path);
  if (!user) r.problem(`${path}.user`, 'required: the master user name');
  if (password === null) r.problem(`${path}.password`, 'required: the master password (password_env or password_file recommended)');
  if (method === 'separator') return { method, user: user ?? '', password: password ?? '', separator: r.str(o, 'separator', path, '*') };
  return { method: 'sasl-proxy', user: user ?? '', password: password ?? '' };
}

function upstream(r: Reader, o: Obj | null, path: string, protocol: 'imap' | 'smtp' | 'pop3'): UpstreamConfig {
  if (!o) r.problem(path, 'required: { host, port, tls, auth }');
  const u = o ?? {};
  r.unknownKeys(u, ['host', 'port', 'tls', 'ca', 'servername', 'verify', 'trusted', 'auth', 'connect_timeout'], path);
  const caPath = r.str(u, 'ca', path, null);
  let ca: string | null = null;
  if (caPath) {
    try { ca = readFileSync(r.resolvePath(caPath), 'utf8'); } catch (e) { r.problem(`${path}.ca`, `cannot read ${caPath}: ${(e as Error).message}`); }
  }
  return {
    host: r.str(u, 'host', path, '127.0.0.1'),
    port: r.int(u, 'port', path, ({ imap: 143, smtp: 587, pop3: 110 } as const)[protocol], 1, 65535),
    tls: tlsMode(r, u, path, 'starttls'),
    ca,
    servername: r.str(u, 'servername', path, null),
    rejectUnauthorized: r.bool(u, 'verify', path, true),
    trusted: r.bool(u, 'trusted', path, true),
    auth: upstreamAuth(r, r.obj(u, 'auth', `${path}.auth`), `${path}.auth`, protocol),
    connectTimeoutMs: r.duration(u, 'connect_timeout', path, 10_000),
  };
}

function protocolSection(r: Reader, root: Obj, name: 'imap' | 'smtp' | 'pop3'): ProtocolConfig | null {
  const o = r.obj(root, name, name);
  if (!o) return null;
  r.unknownKeys(o, ['listen', 'upstream', 'hostname'], name);
  return { listen: listeners(r, o, name), upstream: upstream(r, r.obj(o, 'upstream', `${name}.upstream`), `${name}.upstream`, name) };
}

/** `identity`: how a typed name becomes the one account name (core/identity.ts). */
function identity(r: Reader, root: Obj): IdentityConfig {
  const o = r.obj(root, 'identity', 'identity') ?? {};
  r.unknownKeys(o, ['default_domain', 'domains'], 'identity');
  const domainName = (v: unknown, path: string): string | null => {
    const d = typeof v === 'string' ? v.trim().toLowerCase().replace(/^@/, '') : '';
    if (!/^[^\s@*]+$/u.test(d) || d.split('.').some((l) => l === '')) { r.problem(path, `expected a domain like example.com, got ${JSON.stringify(v)}`); return null; }
    return d.normalize('NFC');
  };
  const defaultDomain = o.default_domain === undefined || o.default_domain === null ? null : domainName(o.default_domain, 'identity.default_domain');
  let domains: string[] | null = null;
  if (o.domains !== undefined && o.domains !== null) {
    if (!Array.isArray(o.domains) || o.domains.length === 0) r.problem('identity.domains', 'expected a non-empty list of domains (omit it to accept any domain)');
    else domains = o.domains.map((d, i) => domainName(d, `identity.domains[${i}]`)).filter((d): d is string => d !== null);
  }
  if (defaultDomain && domains && !domains.includes(defaultDomain)) r.problem('identity.default_domain', `${defaultDomain} is not in identity.domains: bare names would all be refused`);
  return { defaultDomain, domains };
}

function policy(r: Reader, root: Obj): PolicyConfig {
  const o = r.obj(root, 'policy', 'policy') ?? {};
  r.unknownKeys(o, ['enforce', 'exempt_networks', 'allow_plaintext_auth'], 'policy');
  let enforce: PolicyConfig['enforce'] = [];
  if (o.enforce === 'all') enforce = 'all';
  else if (Array.isArray(o.enforce) && o.enforce.every((x) => typeof x === 'string' && x.trim() !== '')) {
    enforce = o.enforce.map((x: string) => x.trim().toLowerCase().replace(/^@/, ''));
  } else if (o.enforce !== undefined && o.enforce !== null) r.problem('policy.enforce', 'expected "all" or a list of domains and addresses');
  const exemptNetworks = cidrList(r, o.exempt_networks, 'policy.exempt_networks');
  return { enforce, exemptNetworks, allowPlaintextAuth: r.bool(o, 'allow_plaintext_auth', 'policy', false) };
}

/** A list of CIDR networks (a bare address means just that host). */
function cidrList(r: Reader, value: unknown, path: string): string[] {
  const out: string[] = [];
  const nets = value ?? [];
  if (!Array.isArray(nets)) { r.problem(path, 'expected a list of CIDR networks'); return out; }
  for (const [i, n] of nets.entries()) {
    const s = String(n);
    const [addr, bits] = s.split('/');
    const fam = isIP(addr ?? '');
    const max = fam === 6 ? 128 : 32;
    if (fam === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) r.problem(`${path}[${i}]`, `expected a network like 10.0.0.5/32, got ${JSON.stringify(s)}`);
    else out.push(bits === undefined ? `${addr}/${max}` : s);
  }
  return out;
}

/** store: { sqlite: FILE } (default ./data/mailgate.db) or { postgres: { url|url_env|url_file, … } }. */
function storeSection(r: Reader, root: Obj): Config['store'] {
  const store = r.obj(root, 'store', 'store') ?? {};
  r.unknownKeys(store, ['sqlite', 'postgres'], 'store');
  const pgObj = r.obj(store, 'postgres', 'store.postgres');
  if (!pgObj) return { sqlite: r.path(store, 'sqlite', 'store', './data/mailgate.db'), postgres: null };
  if (store.sqlite !== undefined && store.sqlite !== null) r.problem('store', 'set exactly one of sqlite and postgres');
  r.unknownKeys(pgObj, ['url', 'url_env', 'url_file', 'pool_size', 'statement_timeout'], 'store.postgres');
  const url = r.secret(pgObj, 'url', 'store.postgres');
  if (url === null && !['url', 'url_env', 'url_file'].some((k) => pgObj[k] !== undefined)) {
    r.problem('store.postgres.url', 'required: url_env (e.g. MAILGATE_DATABASE_URL), url_file or url');
  } else if (url !== null && !/^postgres(ql)?:\/\//.test(url)) {
    // Never echo the value: it usually carries the database password.
    r.problem('store.postgres.url', 'expected a postgres:// or postgresql:// URL');
  }
  const postgres: PostgresConfig = {
    url: url ?? '',
    poolSize: r.int(pgObj, 'pool_size', 'store.postgres', 10, 1, 1000),
    statementTimeoutMs: r.duration(pgObj, 'statement_timeout', 'store.postgres', 5000),
  };
  if (postgres.statementTimeoutMs < 100) r.problem('store.postgres.statement_timeout', 'expected at least 100ms');
  return { sqlite: null, postgres };
}

/** Validates an already-parsed YAML document. `file` is used to resolve relative paths. */
export function buildConfig(doc: unknown, file: string | null, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  const r = new Reader(baseDir, env);
  const root: Obj = isObj(doc) ? doc : {};
  if (!isObj(doc)) r.problem('(top)', 'the configuration must be a YAML mapping');
  r.unknownKeys(root, ['store', 'audit', 'secret_file', 'tls', 'imap', 'smtp', 'pop3', 'identity', 'policy', 'auth', 'limits', 'log', 'portal', 'admin', 'notify', 'metrics'], '');

  const store = storeSection(r, root);
  const auditObj = r.obj(root, 'audit', 'audit') ?? {};
  r.unknownKeys(auditObj, ['retention'], 'audit');
  const retentionMs = auditObj.retention === undefined || auditObj.retention === null ? null : r.duration(auditObj, 'retention', 'audit', 0);
  if (retentionMs !== null && retentionMs < 86_400_000) r.problem('audit.retention', 'expected at least 1d (or leave it unset to keep every event)');
  const tlsObj = r.obj(root, 'tls', 'tls');
  if (tlsObj) r.unknownKeys(tlsObj, ['cert', 'key'], 'tls');
  const tls = tlsObj ? { cert: r.path(tlsObj, 'cert', 'tls', ''), key: r.path(tlsObj, 'key', 'tls', '') } : null;

  const imap = protocolSection(r, root, 'imap');
  const smtpBase = protocolSection(r, root, 'smtp');
  const smtpObj = r.obj(root, 'smtp', 'smtp');
  const smtp = smtpBase ? { ...smtpBase, hostname: r.str(smtpObj ?? {}, 'hostname', 'smtp', 'mailgate') } : null;
  const pop3 = protocolSection(r, root, 'pop3');
  if (!imap && !smtp && !pop3) r.problem('(top)', 'configure at least one of imap, smtp or pop3');
  const needsTls = [...(imap?.listen ?? []), ...(smtp?.listen ?? []), ...(pop3?.listen ?? [])].some((l) => l.tls !== 'none');
  if (needsTls && !tls) r.problem('tls', 'a listener uses TLS: set tls.cert and tls.key (PEM files)');

  const auth = r.obj(root, 'auth', 'auth') ?? {};
  r.unknownKeys(auth, ['bcrypt_cost', 'hash_workers', 'cache_ttl', 'failure_delay', 'failure_jitter', 'throttle'], 'auth');
  const failureDelayMs = r.duration(auth, 'failure_delay', 'auth', 2_000);
  const throttle = r.obj(auth, 'throttle', 'auth.throttle') ?? {};
  r.unknownKeys(throttle, ['max_delay', 'block_after', 'block_for', 'window', 'account_ceiling'], 'auth.throttle');
  const limits = r.obj(root, 'limits', 'limits') ?? {};
  r.unknownKeys(limits, ['idle_timeout', 'max_bad_commands', 'max_line', 'max_literal', 'max_prelogin_commands', 'max_prelogin_per_ip', 'max_connections', 'shutdown_grace'], 'limits');
  const log = r.obj(root, 'log', 'log') ?? {};
  r.unknownKeys(log, ['level'], 'log');
  const level = r.str(log, 'level', 'log', 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) r.problem('log.level', 'expected one of fatal, error, warn, info, debug, trace, silent');
  const portalObj = r.obj(root, 'portal', 'portal');
  if (portalObj) r.unknownKeys(portalObj, ['listen', 'public_url', 'trusted_proxies', 'first_enrolment'], 'portal');
  const firstEnrolment = portalObj ? r.str(portalObj, 'first_enrolment', 'portal', 'open') : 'open';
  if (firstEnrolment !== 'open' && firstEnrolment !== 'code') r.problem('portal.first_enrolment', `expected open or code, got ${JSON.stringify(firstEnrolment)}`);
  const publicUrl = portalObj ? r.str(portalObj, 'public_url', 'portal', null) : null;
  if (publicUrl !== null && !/^https?:\/\/[^/\s]+/.test(publicUrl)) r.problem('portal.public_url', `expected an http(s) URL, got ${JSON.stringify(publicUrl)}`);
  const admin = r.obj(root, 'admin', 'admin') ?? {};
  r.unknownKeys(admin, ['token', 'token_env', 'token_file'], 'admin');
  const notify = r.obj(root, 'notify', 'notify') ?? {};
  r.unknownKeys(notify, ['enabled', 'from'], 'notify');
  const notifyFrom = r.str(notify, 'from', 'notify', null);
  // It becomes a header line as written: one address, no line breaks or control characters.
  // eslint-disable-next-line no-control-regex
  if (notifyFrom !== null && (/[\u0000-\u001f\u007f]/.test(notifyFrom) || notifyFrom.length > 300 || !/^(?:[^<>@]*<[^<>\s@]+@[^<>\s@]+>|[^<>\s@]+@[^<>\s@]+)$/.test(notifyFrom.trim()))) {
    r.problem('notify.from', `expected one address like "Mail security <postmaster@example.com>" or postmaster@example.com, got ${JSON.stringify(notifyFrom.slice(0, 100))}`);
  }

  const metricsObj = r.obj(root, 'metrics', 'metrics');
  if (metricsObj) r.unknownKeys(metricsObj, ['listen'], 'metrics');
  const metricsListen = metricsObj ? r.obj(metricsObj, 'listen', 'metrics.listen') ?? {} : null;
  if (metricsListen) r.unknownKeys(metricsListen, ['host', 'port'], 'metrics.listen');
  const config: Config = {
    file: file ? resolve(file) : null,
    store,
    audit: { retentionMs },
    secretFile: r.path(root, 'secret_file', '', './data/secret.key'),
    tls,
    imap,
    smtp,
    pop3,
    identity: identity(r, root),
    policy: policy(r, root),
    auth: {
      bcryptCost: r.int(auth, 'bcrypt_cost', 'auth', 10, 4, 15),
      // One core is left to the event loop that splices everyone's traffic: with bcrypt on every
      // core, a cold-login storm added 6 ms to other sessions' p99 in the bench, 2 ms with one less.
      hashWorkers: r.int(auth, 'hash_workers', 'auth', Math.max(1, availableParallelism() - 1), 1, 64),
      cacheTtlMs: r.duration(auth, 'cache_ttl', 'auth', 5 * 60_000),
      failureDelayMs,
      // A quarter of the delay by default: wide enough to cover an upstream's own failure delay
      // (Dovecot answers within about ±0.5 s of its auth_failure_delay).
      failureJitterMs: r.duration(auth, 'failure_jitter', 'auth', Math.round(failureDelayMs / 4)),
      throttle: {
        maxDelayMs: r.duration(throttle, 'max_delay', 'auth.throttle', 15_000),
        blockAfter: r.int(throttle, 'block_after', 'auth.throttle', 10, 1, 1_000_000),
        blockForMs: r.duration(throttle, 'block_for', 'auth.throttle', 15 * 60_000),
        windowMs: r.duration(throttle, 'window', 'auth.throttle', 15 * 60_000),
        accountCeiling: r.int(throttle, 'account_ceiling', 'auth.throttle', 30, 1, 1_000_000),
      },
    },
    limits: {
      idleTimeoutMs: r.duration(limits, 'idle_timeout', 'limits', 60_000),
      maxBadCommands: r.int(limits, 'max_bad_commands', 'limits', 5, 1, 1000),
      maxLineBytes: r.int(limits, 'max_line', 'limits', 8192, 512, 1 << 20),
      maxLiteralBytes: r.int(limits, 'max_literal', 'limits', 8192, 512, 1 << 20),
      maxPreLoginCommands: r.int(limits, 'max_prelogin_commands', 'limits', 50, 5, 10_000),
      maxPreLoginPerIp: r.int(limits, 'max_prelogin_per_ip', 'limits', 1000, 1, 100_000),
      maxConnections: r.int(limits, 'max_connections', 'limits', 20_000, 1, 1_000_000),
      shutdownGraceMs: r.duration(limits, 'shutdown_grace', 'limits', 30_000),
    },
    log: { level },
    portal: portalObj ? {
      listen: (() => { const l = r.obj(portalObj, 'listen', 'portal.listen') ?? {}; return { host: r.str(l, 'host', 'portal.listen', '127.0.0.1'), port: r.int(l, 'port', 'portal.listen', 8080, 0, 65535) }; })(),
      publicUrl: r.str(portalObj, 'public_url', 'portal', null),
      trustedProxies: cidrList(r, portalObj.trusted_proxies, 'portal.trusted_proxies'),
      firstEnrolment: firstEnrolment === 'code' ? 'code' : 'open',
    } : null,
    admin: { token: r.secret(admin, 'token', 'admin', true) },
    metrics: metricsListen ? { listen: { host: r.str(metricsListen, 'host', 'metrics.listen', '127.0.0.1'), port: r.int(metricsListen, 'port', 'metrics.listen', 9187, 0, 65535) } } : null,
    notify: { enabled: r.bool(notify, 'enabled', 'notify', true), from: notifyFrom?.trim() ?? null },
  };
  if (r.problems.length) throw new ConfigError(r.problems, file);
  return deepFreeze(config);
}

/** Reads and validates a YAML config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) {
    throw new ConfigError([`cannot read the configuration file: ${(e as Error).message}`], file);
  }
  let doc: unknown;
  try { doc = parseYaml(text); } catch (e) { throw new ConfigError([`not valid YAML: ${(e as Error).message}`], file); }
  return buildConfig(doc, file, env);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') { for (const v of Object.values(o)) deepFreeze(v); Object.freeze(o); }
  return o;
}
