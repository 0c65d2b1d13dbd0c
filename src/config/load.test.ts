import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError, loadConfig, parseDuration } from './load.js';
import { configSchema } from './schema.js';

const minimal = {
  tls: { cert: 'c.pem', key: 'k.pem' },
  imap: {
    listen: [{ port: 1143 }],
    upstream: { host: '127.0.0.1', port: 143, auth: { method: 'sasl-proxy', user: 'm', password_env: 'MP' } },
  },
};

describe('configuration', () => {
  it('loads the shipped example (every key) once its secrets are provided', () => {
    const c = loadConfig(join(import.meta.dirname, '../../config/mailgate.example.yaml'), { MAILGATE_MASTER_PASSWORD: 'pw' });
    expect(c.imap?.upstream.auth).toEqual({ method: 'sasl-proxy', user: 'mailgate', password: 'pw' });
    expect(c.smtp?.upstream.auth).toEqual({ method: 'xclient' });
    expect(c.policy.enforce).toEqual([{ target: 'example.com', mode: 'enforce', from: null }]);
    expect(c.auth.failureDelayMs).toBe(2000);
    expect(c.portal?.trustedProxies).toEqual(['127.0.0.1/32']);
    expect(c.store.sqlite).toMatch(/config\/data\/mailgate\.db$/);
    expect(Object.isFrozen(c.imap?.upstream)).toBe(true);
  });

  it('resolves secrets from env and files, relative paths against the config folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-cfg-'));
    writeFileSync(join(dir, 'master.pw'), 's3cret\n');
    const doc = {
      ...minimal,
      imap: {
        ...minimal.imap,
        upstream: { ...minimal.imap.upstream, auth: { method: 'separator', user: 'm', password_file: 'master.pw' } },
      },
    };
    const c = buildConfig(doc, join(dir, 'mailgate.yaml'), {});
    expect(c.imap?.upstream.auth).toEqual({ method: 'separator', user: 'm', password: 's3cret', separator: '*' });
    expect(c.tls?.cert).toBe(join(dir, 'c.pem'));
  });

  it('reports every problem with its key path', () => {
    const doc = parse(`
imap:
  listen: [ { port: 99999, tls: sometimes } ]
  upstream: { port: abc, auth: { method: magic } }
policy: { enforce: 42, exempt_networks: [ 10.0.0.0/99 ] }
portal: { trusted_proxies: [ 127.0.0.1/32, proxy.example.com ] }
auth: { cache_ttl: soon }
typo: 1
`);
    let err: ConfigError | null = null;
    try {
      buildConfig(doc, null, {});
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.problems.join('\n');
    for (const k of [
      'imap.listen[0].port',
      'imap.listen[0].tls',
      'imap.upstream.port',
      'imap.upstream.auth.method',
      'policy.enforce',
      'policy.exempt_networks[0]',
      'portal.trusted_proxies[1]',
      'auth.cache_ttl',
      'typo: unknown key',
      'tls: a listener uses TLS',
    ]) {
      expect(text).toContain(k);
    }
  });

  it('names a missing environment variable', () => {
    expect(() => buildConfig(minimal, null, {})).toThrow(/imap.upstream.auth.password_env: environment variable MP is not set/);
  });

  it('notify: on by default, an optional From that must be one address on one line', () => {
    const env = { MP: 'pw' };
    expect(buildConfig(minimal, null, env).notify).toEqual({ enabled: true, from: null });
    expect(buildConfig({ ...minimal, notify: { enabled: false, from: 'Security <sec@example.org>' } }, null, env).notify).toEqual({
      enabled: false,
      from: 'Security <sec@example.org>',
    });
    expect(() => buildConfig({ ...minimal, notify: { from: 'a@b.c\r\nBcc: x@y.z' } }, null, env)).toThrow(
      /notify\.from: expected one address/,
    );
    expect(() => buildConfig({ ...minimal, notify: { from: 'nobody' } }, null, env)).toThrow(/notify\.from/);
    expect(() => buildConfig({ ...minimal, notify: { enabled: 'yes' } }, null, env)).toThrow(/notify\.enabled: expected true or false/);
  });

  it('refusal hint on by default; public_url one token (it goes into protocol replies); expire_unused off, at least 8d', () => {
    const env = { MP: 'x' };
    const def = buildConfig(minimal, null, env);
    expect([def.auth.refusalHint, def.passcodes.expireUnusedMs]).toEqual([true, null]);
    const set = buildConfig({ ...minimal, auth: { refusal_hint: false }, passcodes: { expire_unused: '180d' } }, null, env);
    expect([set.auth.refusalHint, set.passcodes.expireUnusedMs]).toEqual([false, 180 * 86_400_000]);
    expect(() => buildConfig({ ...minimal, passcodes: { expire_unused: '7d' } }, null, env)).toThrow(
      /passcodes\.expire_unused: expected at least 8d/,
    );
    const portal = (url: string) => buildConfig({ ...minimal, portal: { public_url: url } }, null, env).portal?.publicUrl;
    expect(portal('https://mail.example.com/2fa')).toBe('https://mail.example.com/2fa');
    expect(() => portal('https://mail.example.com/2fa\r\n* BYE')).toThrow(/portal\.public_url/);
  });

  it('store: sqlite by default, or postgres with its URL from the environment; exactly one; audit retention', () => {
    const env = { MP: 'pw', DB: 'postgres://mailgate:dbpw@db.internal:5432/mailgate' };
    const def = buildConfig(minimal, '/etc/mailgate/mailgate.yaml', env);
    expect(def.store).toEqual({ sqlite: '/etc/mailgate/data/mailgate.db', postgres: null, rowCacheTtlMs: 5_000 });
    expect(def.audit.retentionMs).toBeNull();
    const pg = buildConfig(
      {
        ...minimal,
        store: { postgres: { url_env: 'DB', pool_size: 20, statement_timeout: '2s' }, row_cache_ttl: '0s' },
        audit: { retention: '180d' },
      },
      null,
      env,
    );
    expect(pg.store).toEqual({ sqlite: null, postgres: { url: env.DB, poolSize: 20, statementTimeoutMs: 2000 }, rowCacheTtlMs: 0 });
    expect(pg.audit.retentionMs).toBe(180 * 86_400_000);
    const problems = (doc: object, e: NodeJS.ProcessEnv = env) => {
      try {
        buildConfig({ ...minimal, ...doc }, null, e);
        return '';
      } catch (err) {
        return (err as ConfigError).problems.join('\n');
      }
    };
    expect(problems({ store: { sqlite: 'a.db', postgres: { url_env: 'DB' } } })).toMatch(/store: set exactly one of sqlite and postgres/);
    expect(problems({ store: { postgres: {} } })).toMatch(/store.postgres.url: required/);
    expect(problems({ store: { postgres: { url_env: 'NOPE' } } })).toMatch(/store.postgres.url_env: environment variable NOPE is not set/);
    // A malformed URL is named, its value (which may carry a password) never echoed.
    const bad = problems({ store: { postgres: { url: 'mysql://u:hunter22@x/db' } } });
    expect(bad).toMatch(/store.postgres.url: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(bad).not.toContain('hunter22');
    expect(problems({ audit: { retention: '2h' } })).toMatch(/audit.retention: expected at least 1d/);
    expect(problems({ audit: { keep: '1d' } })).toMatch(/audit.keep: unknown key/);
  });

  it('parses durations', () => {
    expect(parseDuration('90d')).toBe(90 * 86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(30)).toBe(30_000);
    expect(parseDuration('soon')).toBeNull();
  });

  it('never puts the example config out of sync with the README keys', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../config/mailgate.example.yaml'), 'utf8');
    for (const k of ['store:', 'secret_file:', 'tls:', 'imap:', 'smtp:', 'policy:', 'auth:', 'limits:', 'log:', 'notify:'])
      expect(readme).toContain(k);
  });
});

/** Every key path the schema knows, walking zod's definitions through its pipes, unions and wrappers. */
function schemaKeys(s: unknown, prefix = ''): string[] {
  const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (!def) return [];
  switch (def.type) {
    case 'object':
      return Object.entries(def.shape as Record<string, unknown>).flatMap(([k, v]) => [
        `${prefix}${k}`,
        ...schemaKeys(v, `${prefix}${k}.`),
      ]);
    case 'pipe':
      return [...schemaKeys(def.in, prefix), ...schemaKeys(def.out, prefix)];
    case 'optional':
    case 'nullable':
    case 'default':
      return schemaKeys(def.innerType, prefix);
    case 'array':
      return schemaKeys(def.element, prefix);
    case 'union':
      return (def.options as unknown[]).flatMap((o) => schemaKeys(o, prefix));
    default:
      return [];
  }
}

describe('one schema', () => {
  const env = { MP: 'pw' };
  const problems = (doc: object) => {
    try {
      buildConfig({ ...minimal, ...doc }, null, env);
      return '';
    } catch (err) {
      return (err as ConfigError).problems.join('\n');
    }
  };

  it('documents every key of the schema in the example config', () => {
    const example = readFileSync(join(import.meta.dirname, '../../config/mailgate.example.yaml'), 'utf8');
    const keys = [...new Set(schemaKeys(configSchema({ baseDir: '/', env: {} }, null)))];
    expect(keys.length).toBeGreaterThan(80); // the walk reached the nested sections
    const missing = keys.filter((k) => !new RegExp(`(^|[\\s{,#])${k.split('.').at(-1)}:`, 'm').test(example));
    expect(missing).toEqual([]);
  });

  it('proxy_protocol on a listener needs proxy_from; proxyFrom is set only when it is on', () => {
    const imap = (listen: object) => ({ imap: { ...minimal.imap, listen: [listen] } });
    expect(problems(imap({ port: 1143, proxy_protocol: true }))).toMatch(/imap\.listen\[0\]\.proxy_from: required with proxy_protocol/);
    expect(problems(imap({ port: 1143, proxy_protocol: true, proxy_from: ['10.0.0.300'] }))).toMatch(/proxy_from\[0\]: expected a network/);
    expect(problems({ portal: { listen: { proxy_protocol: true } } })).toMatch(/portal\.listen\.proxy_from: required/);
    const on = buildConfig({ ...minimal, ...imap({ port: 1143, proxy_protocol: true, proxy_from: ['10.0.0.2'] }) }, null, env);
    expect(on.imap?.listen[0]?.proxyFrom).toEqual(['10.0.0.2/32']);
    expect(buildConfig(minimal, null, env).imap?.listen[0]).toEqual({ host: '0.0.0.0', port: 1143, tls: 'starttls' });
  });

  it('refuses imap.hostname (smtp only) instead of ignoring it, and names the closest known key', () => {
    expect(problems({ imap: { ...minimal.imap, hostname: 'mail.example.com' } })).toMatch(
      /^imap\.hostname: unknown key \(allowed: listen, upstream\)$/m,
    );
    expect(problems({ auth: { thrrottle: {} } })).toMatch(/^auth\.thrrottle: unknown key \(did you mean throttle\? allowed: /m);
    expect(problems({ imap: { ...minimal.imap, listen: [{ port: 1143, tsl: 'none' }] } })).toMatch(
      /^imap\.listen\[0\]\.tsl: unknown key \(did you mean tls\?/m,
    );
    expect(problems({ portal: { listen: { host: '127.0.0.1', prot: 8080 } } })).toMatch(
      /^portal\.listen\.prot: unknown key \(did you mean port\?/m,
    );
  });

  it('pop3: the same shape as imap, its own default port', () => {
    const c = buildConfig(
      { ...minimal, pop3: { listen: [{ port: 1110 }], upstream: { auth: { method: 'separator', user: 'm', password_env: 'MP' } } } },
      null,
      env,
    );
    expect(c.pop3?.upstream).toMatchObject({
      host: '127.0.0.1',
      port: 110,
      auth: { method: 'separator', user: 'm', password: 'pw', separator: '*' },
    });
    expect(c.pop3?.listen).toEqual([{ host: '0.0.0.0', port: 1110, tls: 'starttls' }]);
    expect(buildConfig(minimal, null, env).pop3).toBeNull();
    expect(problems({ pop3: { listen: [{ port: 1110 }], upstream: { auth: { method: 'xclient' } } } })).toMatch(
      /pop3\.upstream\.auth\.method: expected one of sasl-proxy, separator, got "xclient"/,
    );
  });

  it('reads an empty key as its default and a secret from at most one source, never echoing it', () => {
    const c = buildConfig({ ...minimal, limits: { idle_timeout: null }, admin: { token_env: 'UNSET' } }, null, env);
    expect([c.limits.idleTimeoutMs, c.admin.token]).toEqual([60_000, null]); // an unset admin token variable: the API is off
    const both = problems({ admin: { token: 'hunter2-token', token_env: 'X' } });
    expect(both).toMatch(/^admin\.token: set only one of token, token_env, token_file$/m);
    expect(both).not.toContain('hunter2');
    expect(
      problems({ imap: { ...minimal.imap, upstream: { ...minimal.imap.upstream, auth: { method: 'sasl-proxy', password: 'x' } } } }),
    ).toMatch(/^imap\.upstream\.auth\.user: required: the master user name$/m);
  });
});
