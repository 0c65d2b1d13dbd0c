/** The `pop3:` section: same shape as `imap:` (listen + upstream with a master login). */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildConfig, type ConfigError, loadConfig } from './load.js';

const tls = { cert: 'c.pem', key: 'k.pem' };

describe('configuration: pop3', () => {
  it('the shipped example has a pop3 section on 110/995 with a master login', () => {
    const c = loadConfig(join(import.meta.dirname, '../../config/mailgate.example.yaml'), { MAILGATE_MASTER_PASSWORD: 'pw' });
    expect(c.pop3?.listen.map((l) => [l.port, l.tls])).toEqual([
      [110, 'starttls'],
      [995, 'implicit'],
    ]);
    expect(c.pop3?.upstream.auth).toEqual({ method: 'sasl-proxy', user: 'mailgate', password: 'pw' });
  });

  it('is enough on its own; the upstream port defaults to 110', () => {
    const c = buildConfig(
      { tls, pop3: { listen: [{ port: 1110 }], upstream: { auth: { method: 'separator', user: 'm', password: 'p' } } } },
      null,
      {},
    );
    expect(c.imap).toBeNull();
    expect(c.pop3?.upstream).toMatchObject({
      port: 110,
      tls: 'starttls',
      auth: { method: 'separator', user: 'm', password: 'p', separator: '*' },
    });
  });

  it('needs a master login and refuses xclient', () => {
    const problems = (pop3: unknown) => {
      try {
        buildConfig({ tls, pop3 }, null, {});
        return '';
      } catch (e) {
        return (e as ConfigError).message;
      }
    };
    expect(problems({ listen: [{ port: 1110 }], upstream: {} })).toMatch(/pop3\.upstream\.auth: required/);
    expect(problems({ listen: [{ port: 1110 }], upstream: { auth: { method: 'xclient' } } })).toMatch(
      /pop3\.upstream\.auth\.method: expected one of sasl-proxy, separator/,
    );
  });
});
