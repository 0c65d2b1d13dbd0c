import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import { Identity, identityFor } from './identity.js';

describe('Identity: one account name per mailbox', () => {
  const provider = new Identity({ defaultDomain: 'example.com', domains: ['example.com', 'example.org'] });

  it('makes every spelling of one mailbox the same account', () => {
    for (const typed of ['alice', 'ALICE', ' Alice@Example.COM ', 'alice@example.com', '\talice@EXAMPLE.com\u00a0']) {
      expect(provider.canonical(typed)).toBe('alice@example.com');
    }
    expect(provider.canonical('bob@Example.ORG')).toBe('bob@example.org');
  });

  it('uses Unicode NFC, so composed and decomposed spellings are one account', () => {
    const composed = 'jos\u00e9@example.com';
    const decomposed = 'jose\u0301@example.com';
    expect(provider.canonical(decomposed)).toBe(composed);
    expect(provider.canonical('JOSE\u0301')).toBe(composed);
  });

  it('refuses names in domains not served here', () => {
    expect(provider.canonical('alice@other.org')).toBeNull();
    expect(provider.canonical('alice@example.com.evil.org')).toBeNull();
  });

  it('refuses names an upstream could read as someone else', () => {
    for (const typed of [
      '',
      '   ',
      '@example.com',
      'alice@',
      'alice@@example.com',
      'alice@bob@example.com',
      'al ice',
      'alice*mailgate',
      'alice\u0000',
      'ali\u0085ce',
      'ali\r\nce',
      'alice@example.com.',
      'alice@example..com',
      'x'.repeat(300),
    ]) {
      expect(provider.canonical(typed), JSON.stringify(typed)).toBeNull();
    }
  });

  it('refuses the configured master separator too', () => {
    const id = new Identity({ defaultDomain: null, domains: null }, ['%']);
    expect(id.canonical('alice%mailgate')).toBeNull();
    expect(id.canonical('alice')).toBe('alice');
  });

  it('without identity keys: bare names stay bare, any domain is accepted', () => {
    const open = new Identity();
    expect(open.canonical('Alice')).toBe('alice');
    expect(open.canonical('alice@anywhere.test')).toBe('alice@anywhere.test');
  });

  it('with domains but no default domain, a bare name is not an account here', () => {
    expect(new Identity({ defaultDomain: null, domains: ['example.com'] }).canonical('alice')).toBeNull();
  });

  it('is built from the configuration, with the separator of a separator-method upstream', () => {
    const config = buildConfig(
      {
        identity: { default_domain: 'Example.com', domains: ['example.com'] },
        imap: {
          listen: [{ port: 0, tls: 'none' }],
          upstream: { tls: 'none', auth: { method: 'separator', user: 'm', password: 'p', separator: '#' } },
        },
      },
      null,
    );
    expect(config.identity).toEqual({ defaultDomain: 'example.com', domains: ['example.com'] });
    const id = identityFor(config);
    expect(id.canonical('Alice')).toBe('alice@example.com');
    expect(id.canonical('alice#m')).toBeNull();
  });

  it('reports bad identity keys by path', () => {
    expect(() =>
      buildConfig(
        {
          identity: { default_domain: 'a b', domains: [] },
          imap: { listen: [{ port: 0, tls: 'none' }], upstream: { tls: 'none', auth: { method: 'sasl-proxy', user: 'm', password: 'p' } } },
        },
        null,
      ),
    ).toThrow(/identity\.default_domain.*\n.*identity\.domains/s);
    expect(() =>
      buildConfig(
        {
          identity: { default_domain: 'example.net', domains: ['example.com'] },
          imap: { listen: [{ port: 0, tls: 'none' }], upstream: { tls: 'none', auth: { method: 'sasl-proxy', user: 'm', password: 'p' } } },
        },
        null,
      ),
    ).toThrow(/not in identity\.domains/);
  });
});
