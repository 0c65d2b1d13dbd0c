import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildConfig, ConfigError, loadConfig, parseDuration } from './load.js';

const minimal = {
  tls: { cert: 'c.pem', key: 'k.pem' },
  imap: { listen: [{ port: 1143 }], upstream: { host: '127.0.0.1', port: 143, auth: { method: 'sasl-proxy', user: 'm', password_env: 'MP' } } },
};

describe('configuration', () => {
  it('loads the shipped example (every key) once its secrets are provided', () => {
    const c = loadConfig(join(import.meta.dirname, '../../config/mailgate.example.yaml'), { MAILGATE_MASTER_PASSWORD: 'pw' });
    expect(c.imap?.upstream.auth).toEqual({ method: 'sasl-proxy', user: 'mailgate', password: 'pw' });
    expect(c.smtp?.upstream.auth).toEqual({ method: 'xclient' });
    expect(c.policy.enforce).toEqual(['example.com']);
    expect(c.auth.failureDelayMs).toBe(2000);
    expect(c.portal?.trustedProxies).toEqual(['127.0.0.1/32']);
    expect(c.store.sqlite).toMatch(/config\/data\/mailgate\.db$/);
    expect(Object.isFrozen(c.imap?.upstream)).toBe(true);
  });

  it('resolves secrets from env and files, relative paths against the config folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mg-cfg-'));
    writeFileSync(join(dir, 'master.pw'), 's3cret\n');
    const doc = { ...minimal, imap: { ...minimal.imap, upstream: { ...minimal.imap.upstream, auth: { method: 'separator', user: 'm', password_file: 'master.pw' } } } };
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
    try { buildConfig(doc, null, {}); } catch (e) { err = e as ConfigError; }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.problems.join('\n');
    for (const k of ['imap.listen[0].port', 'imap.listen[0].tls', 'imap.upstream.port', 'imap.upstream.auth.method', 'policy.enforce', 'policy.exempt_networks[0]', 'portal.trusted_proxies[1]', 'auth.cache_ttl', 'typo: unknown key', 'tls: a listener uses TLS']) {
      expect(text).toContain(k);
    }
  });

  it('names a missing environment variable', () => {
    expect(() => buildConfig(minimal, null, {})).toThrow(/imap.upstream.auth.password_env: environment variable MP is not set/);
  });

  it('notify: on by default, an optional From that must be one address on one line', () => {
    const env = { MP: 'pw' };
    expect(buildConfig(minimal, null, env).notify).toEqual({ enabled: true, from: null });
    expect(buildConfig({ ...minimal, notify: { enabled: false, from: 'Security <sec@example.org>' } }, null, env).notify).toEqual({ enabled: false, from: 'Security <sec@example.org>' });
    expect(() => buildConfig({ ...minimal, notify: { from: 'a@b.c\r\nBcc: x@y.z' } }, null, env)).toThrow(/notify\.from: expected one address/);
    expect(() => buildConfig({ ...minimal, notify: { from: 'nobody' } }, null, env)).toThrow(/notify\.from/);
    expect(() => buildConfig({ ...minimal, notify: { enabled: 'yes' } }, null, env)).toThrow(/notify\.enabled: expected true or false/);
  });

  it('store: sqlite by default, or postgres with its URL from the environment; exactly one; audit retention', () => {
    const env = { MP: 'pw', DB: 'postgres://mailgate:dbpw@db.internal:5432/mailgate' };
    const def = buildConfig(minimal, '/etc/mailgate/mailgate.yaml', env);
    expect(def.store).toEqual({ sqlite: '/etc/mailgate/data/mailgate.db', postgres: null });
    expect(def.audit.retentionMs).toBeNull();
    const pg = buildConfig({ ...minimal, store: { postgres: { url_env: 'DB', pool_size: 20, statement_timeout: '2s' } }, audit: { retention: '180d' } }, null, env);
    expect(pg.store).toEqual({ sqlite: null, postgres: { url: env.DB, poolSize: 20, statementTimeoutMs: 2000 } });
    expect(pg.audit.retentionMs).toBe(180 * 86_400_000);
    const problems = (doc: object, e: NodeJS.ProcessEnv = env) => {
      try { buildConfig({ ...minimal, ...doc }, null, e); return ''; } catch (err) { return (err as ConfigError).problems.join('\n'); }
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
    for (const k of ['store:', 'secret_file:', 'tls:', 'imap:', 'smtp:', 'policy:', 'auth:', 'limits:', 'log:', 'notify:']) expect(readme).toContain(k);
  });
});
