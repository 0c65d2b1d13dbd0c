import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveKeys } from './keys.js';
import { base32, groupSecret, matchTotp, newTotpSecret, openSecret, sealSecret, stepAt, totpCode, totpUri } from './totp.js';

/** RFC 6238 appendix A secret for SHA-1: ASCII "12345678901234567890". */
const RFC_SECRET = base32(Buffer.from('12345678901234567890'));

/** An independent RFC 4226/6238 implementation to check otplib against. */
function reference(secretBytes: Buffer, step: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', secretBytes).update(msg).digest();
  const off = h[h.length - 1]! & 0xf;
  return String((h.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

describe('TOTP', () => {
  it('encodes base32 as RFC 4648 (test vectors, no padding)', () => {
    expect(base32(Buffer.from(''))).toBe('');
    expect(base32(Buffer.from('f'))).toBe('MY');
    expect(base32(Buffer.from('foob'))).toBe('MZXW6YQ');
    expect(base32(Buffer.from('foobar'))).toBe('MZXW6YTBOI');
    expect(RFC_SECRET).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  });

  it('gives the RFC 6238 appendix B codes (6-digit truncation)', () => {
    // RFC 6238 appendix B, SHA-1: 94287082 at 59 s, 07081804 at 1111111109 s, 14050471 at 1111111111 s.
    expect(totpCode(RFC_SECRET, 59_000)).toBe('287082');
    expect(totpCode(RFC_SECRET, 1_111_111_109_000)).toBe('081804');
    expect(totpCode(RFC_SECRET, 1_111_111_111_000)).toBe('050471');
  });

  it('agrees with an independent implementation for random secrets (high bits included)', () => {
    for (let i = 0; i < 20; i++) {
      const bytes = randomBytes(20);
      const now = 1_700_000_000_000 + i * 7_919_000;
      expect(totpCode(base32(bytes), now)).toBe(reference(bytes, stepAt(now)));
    }
  });

  it('accepts one step of drift either way and says which step matched', () => {
    const secret = newTotpSecret(randomBytes);
    const now = 1_760_000_015_000;
    const s = stepAt(now);
    expect(matchTotp(secret, totpCode(secret, now), now)).toBe(s);
    expect(matchTotp(secret, totpCode(secret, now - 30_000), now)).toBe(s - 1);
    expect(matchTotp(secret, totpCode(secret, now + 30_000), now)).toBe(s + 1);
    expect(matchTotp(secret, totpCode(secret, now - 60_000), now)).toBeNull();
    expect(matchTotp(secret, totpCode(secret, now + 60_000), now)).toBeNull();
    const spaced = totpCode(secret, now).replace(/^(\d{3})/, '$1 ');
    expect(matchTotp(secret, spaced, now)).toBe(s);
    expect(matchTotp(secret, 'abcdef', now)).toBeNull();
    expect(matchTotp(secret, '1234567', now)).toBeNull();
  });

  it('makes 32-character secrets (160 bits), grouped by four for typing', () => {
    const s = newTotpSecret(() => Buffer.alloc(20, 0xff));
    expect(s).toBe('7'.repeat(32));
    expect(groupSecret('ABCDEFGHIJKL')).toBe('ABCD EFGH IJKL');
    expect(newTotpSecret(randomBytes)).toMatch(/^[A-Z2-7]{32}$/);
  });

  it('builds an otpauth URI with issuer and account', () => {
    const uri = totpUri('alice@example.com', 'mail.example.com', 'JBSWY3DPEHPK3PXP');
    expect(uri).toMatch(/^otpauth:\/\/totp\/mail\.example\.com:alice%40example\.com\?/);
    expect(uri).toContain('secret=JBSWY3DPEHPK3PXP');
    expect(uri).toContain('issuer=mail.example.com');
  });

  it('seals secrets with AES-256-GCM bound to the account', () => {
    const key = deriveKeys(Buffer.alloc(32, 7)).totp;
    const secret = newTotpSecret(randomBytes);
    const sealed = sealSecret(key, 'alice@example.com', secret, randomBytes);
    expect(sealed).not.toContain(secret);
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealSecret(key, 'alice@example.com', secret, randomBytes)).not.toBe(sealed); // fresh IV
    expect(openSecret(key, 'alice@example.com', sealed)).toBe(secret);
    expect(() => openSecret(key, 'bob@example.com', sealed)).toThrow();
    expect(() => openSecret(deriveKeys(Buffer.alloc(32, 8)).totp, 'alice@example.com', sealed)).toThrow();
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[2]!, 'base64url');
    ct[0] = ct[0]! ^ 1;
    expect(() => openSecret(key, 'alice@example.com', [parts[0], parts[1], ct.toString('base64url'), parts[3]].join('.'))).toThrow();
    expect(() => openSecret(key, 'alice@example.com', 'v2.a.b.c')).toThrow(/format/);
  });
});
