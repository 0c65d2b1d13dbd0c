import { describe, expect, it } from 'vitest';
import { clientName } from './passcodes.js';

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
