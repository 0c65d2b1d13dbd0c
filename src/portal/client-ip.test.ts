import { describe, expect, it } from 'vitest';
import { NetworkSet } from '../core/enforcement.js';
import { clientIp } from './client-ip.js';

const proxies = new NetworkSet(['127.0.0.1/32', '10.0.0.0/24', '::1/128']);

describe('clientIp (X-Forwarded-For from trusted proxies only)', () => {
  it('ignores the header when the peer is not a trusted proxy, or none is configured', () => {
    expect(clientIp('198.51.100.4', '203.0.113.7', proxies)).toBe('198.51.100.4');
    expect(clientIp('127.0.0.1', '203.0.113.7', new NetworkSet([]))).toBe('127.0.0.1');
  });

  it('takes the right-most address that is not a trusted proxy', () => {
    expect(clientIp('127.0.0.1', '203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientIp('::ffff:127.0.0.1', '203.0.113.7', proxies)).toBe('203.0.113.7');
    // proxy chain: client → 10.0.0.5 → 127.0.0.1
    expect(clientIp('127.0.0.1', '203.0.113.7, 10.0.0.5', proxies)).toBe('203.0.113.7');
    expect(clientIp('::1', '2001:DB8::7', proxies)).toBe('2001:db8::7');
    expect(clientIp('127.0.0.1', ['203.0.113.9', '203.0.113.7'], proxies)).toBe('203.0.113.7');
  });

  it('never reads what the client prepended on the left', () => {
    expect(clientIp('127.0.0.1', '10.0.0.9, 192.0.2.1, 203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientIp('127.0.0.1', 'garbage, <script>, 203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientIp('127.0.0.1', `${'1.2.3.4, '.repeat(2000)}203.0.113.7`, proxies)).toBe('203.0.113.7');
  });

  it('falls back to the peer on a malformed or empty value on the walk', () => {
    for (const bad of ['', ' ', 'unknown', '203.0.113.7:4711', '203.0.113.7, not-an-ip', '300.1.1.1', '203.0.113.7 10.0.0.5']) {
      expect([bad, clientIp('127.0.0.1', bad, proxies)]).toEqual([bad, '127.0.0.1']);
    }
    expect(clientIp('127.0.0.1', undefined, proxies)).toBe('127.0.0.1');
  });

  it('gives the left-most hop when every hop is a trusted proxy', () => {
    expect(clientIp('127.0.0.1', '10.0.0.5, 127.0.0.1', proxies)).toBe('10.0.0.5');
  });
});
