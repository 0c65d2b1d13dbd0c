import { describe, expect, it } from 'vitest';
import { clientName, passcodeLimits } from './passcodes.js';

describe('clientName', () => {
  it('shows an IMAP ID name, not an SMTP EHLO argument or an address', () => {
    expect(clientName('Thunderbird/128.3', '192.0.2.7')).toBe('Thunderbird/128.3');
    expect(clientName('Microsoft Outlook 16.0', '192.0.2.7')).toBe('Microsoft Outlook 16.0');
    expect(clientName('[127.0.0.1]', '127.0.0.1')).toBeNull(); // the EHLO literal that read "from 127.0.0.1 ([127.0.0.1])"
    expect(clientName('[IPv6:2001:db8::1]', '2001:db8::1')).toBeNull();
    expect(clientName('192.0.2.7', '192.0.2.7')).toBeNull();
    expect(clientName('laptop.example.net', '192.0.2.7')).toBeNull();
    expect(clientName('Thunderbird', '192.0.2.7')).toBe('Thunderbird'); // an ID name without a version
    expect(clientName(null, null)).toBeNull();
  });
});

describe('passcodeLimits', () => {
  const base = { status: 'active', allowedNetworks: null, unusedExpiresAt: null } as const;
  const view = (p: Record<string, unknown>) => String(passcodeLimits({ ...base, ...p } as unknown as Parameters<typeof passcodeLimits>[0]));
  it('shows the networks a passcode is limited to and when it lapses unused; nothing when it has no limits', () => {
    expect(view({})).toBe('');
    expect(view({ allowedNetworks: ['192.0.2.0/24', '2001:db8::/32'] })).toContain('Works only from 192.0.2.0/24, 2001:db8::/32');
    const lapsing = view({ unusedExpiresAt: Date.UTC(2027, 0, 15) });
    expect(lapsing).toContain('Stops working');
    expect(lapsing).toContain('2027-01-15');
    expect(view({ status: 'revoked', unusedExpiresAt: Date.UTC(2027, 0, 15) })).toBe('');
    expect(view({ allowedNetworks: ['<script>'] })).not.toContain('<script>');
  });
});
