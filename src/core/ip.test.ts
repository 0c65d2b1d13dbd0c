import { describe, expect, it } from 'vitest';
import { NetworkSet } from './enforcement.js';
import { sourceOf } from './guard.js';
import { unmapIpv4 } from './ip.js';

describe('unmapIpv4', () => {
  it('turns both spellings of an IPv4-mapped address into IPv4 text and leaves the rest alone', () => {
    expect(unmapIpv4('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(unmapIpv4('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(unmapIpv4('::ffff:c000:201')).toBe('192.0.2.1');
    expect(unmapIpv4('2001:db8::1')).toBe('2001:db8::1');
    expect(unmapIpv4('198.51.100.7')).toBe('198.51.100.7');
    expect(unmapIpv4('::ffff:2001:db8:1')).toBe('::ffff:2001:db8:1');
  });

  it('allowlists and the guard see one address whatever the spelling', () => {
    const nets = new NetworkSet(['192.0.2.0/24']);
    for (const ip of ['192.0.2.1', '::ffff:192.0.2.1', '::ffff:c000:201']) {
      expect(nets.has(ip)).toBe(true);
      expect(sourceOf(ip)).toBe('192.0.2.1');
    }
  });
});
