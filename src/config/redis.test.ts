/** The `redis:` section: absent by default; a URL from the environment, a file or inline; never echoed. */
import { describe, expect, it } from 'vitest';
import { buildConfig, type ConfigError } from './load.js';

const tls = { cert: 'c.pem', key: 'k.pem' };
const imap = { listen: [{ port: 1143 }], upstream: { auth: { method: 'sasl-proxy', user: 'm', password: 'p' } } };
const problems = (redis: unknown, env: Record<string, string> = {}) => {
  try {
    buildConfig({ tls, imap, redis }, null, env);
    return '';
  } catch (e) {
    return (e as ConfigError).problems.join('\n');
  }
};

describe('configuration: redis', () => {
  it('is off unless configured (one box, the demo)', () => {
    expect(buildConfig({ tls, imap }, null, {}).redis).toBeNull();
  });

  it('reads the URL from url_env, with the default prefix', () => {
    const c = buildConfig({ tls, imap, redis: { url_env: 'R' } }, null, { R: 'redis://:pw@10.0.0.3:6379/2' });
    expect(c.redis).toEqual({ url: 'redis://:pw@10.0.0.3:6379/2', prefix: 'mailgate:' });
  });

  it('requires a URL, refuses another scheme without echoing the value', () => {
    expect(problems({})).toMatch(/^redis\.url: required: url_env/m);
    const p = problems({ url_env: 'R' }, { R: 'http://user:s3cret@host' });
    expect(p).toMatch(/^redis\.url: expected a redis:\/\/ or rediss:\/\/ URL$/m);
    expect(p).not.toContain('s3cret');
  });
});
