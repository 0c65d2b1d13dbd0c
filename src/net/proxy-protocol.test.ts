import { describe, expect, it } from 'vitest';
import { parseProxyHeader, V1_MAX, V2_MAX_PAYLOAD } from './proxy-protocol.js';

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** A v2 header as HAProxy's send-proxy-v2 writes it. */
function v2(cmd: number, famProto: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | cmd;
  head[1] = famProto;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}
function inet4(src: number[], dst: number[], sport: number, dport: number, tlvs = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from(dst).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(dport, 10);
  return Buffer.concat([b, tlvs]);
}

describe('PROXY v1', () => {
  it('reads TCP4 and leaves the protocol bytes after it', () => {
    const buf = Buffer.from('PROXY TCP4 192.0.2.7 10.0.0.1 51234 143\r\na1 CAPABILITY\r\n');
    const r = parseProxyHeader(buf);
    expect(r).toEqual({ kind: 'ok', consumed: 41, peer: { ip: '192.0.2.7', port: 51234 } });
    if (r.kind === 'ok') expect(buf.subarray(r.consumed).toString()).toBe('a1 CAPABILITY\r\n');
  });

  it('reads TCP6, mapped IPv4 becomes plain IPv4', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::5 2001:db8::1 40000 993\r\n'))).toMatchObject({
      peer: { ip: '2001:db8::5', port: 40000 },
    });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 ::ffff:192.0.2.9 ::1 1 2\r\n'))).toMatchObject({ peer: { ip: '192.0.2.9' } });
  });

  it('UNKNOWN: the connection address applies', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'ok', consumed: 15, peer: null });
  });

  it('is incomplete byte by byte until the CRLF, then the same answer', () => {
    const line = Buffer.from('PROXY TCP4 198.51.100.3 127.0.0.1 1000 25\r\n');
    for (let i = 0; i < line.length; i++) expect(parseProxyHeader(line.subarray(0, i)).kind).toBe('incomplete');
    expect(parseProxyHeader(line)).toMatchObject({ kind: 'ok', peer: { ip: '198.51.100.3', port: 1000 } });
  });

  it.each([
    ['wrong family for the address', 'PROXY TCP4 2001:db8::1 127.0.0.1 1 2\r\n'],
    ['port out of range', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'],
    ['leading zero port', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'],
    ['missing field', 'PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n'],
    ['UDP', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'],
    ['bad address', 'PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n'],
  ])('refuses %s', (_name, line) => {
    expect(parseProxyHeader(Buffer.from(line)).kind).toBe('invalid');
  });

  it('refuses a line without CRLF once it passes 107 bytes', () => {
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(V1_MAX - 12)}`)).kind).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(V1_MAX)}`))).toMatchObject({ kind: 'invalid' });
  });
});

describe('PROXY v2', () => {
  it('reads TCP4 and skips TLVs', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x03, 0xaa, 0xbb, 0xcc]); // PP2_TYPE_NOOP
    const hdr = v2(1, 0x11, inet4([203, 0, 113, 5], [127, 0, 0, 1], 50001, 993, tlv));
    const r = parseProxyHeader(Buffer.concat([hdr, Buffer.from([0x16, 0x03, 0x01])]));
    expect(r).toEqual({ kind: 'ok', consumed: hdr.length, peer: { ip: '203.0.113.5', port: 50001 } });
  });

  it('reads TCP6', () => {
    const body = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000042', 'hex').copy(body, 0);
    body[31] = 1;
    body.writeUInt16BE(443, 32);
    expect(parseProxyHeader(v2(1, 0x21, body))).toMatchObject({ peer: { ip: '2001:db8::42', port: 443 } });
  });

  it('LOCAL (health check): no peer, the block is skipped', () => {
    const hdr = v2(0, 0x00, Buffer.alloc(0));
    expect(parseProxyHeader(hdr)).toEqual({ kind: 'ok', consumed: 16, peer: null });
    expect(parseProxyHeader(v2(0, 0x11, inet4([1, 1, 1, 1], [2, 2, 2, 2], 1, 2)))).toEqual({ kind: 'ok', consumed: 28, peer: null });
  });

  it('is incomplete at every split point (fragmented input), then the same answer', () => {
    const hdr = v2(1, 0x11, inet4([192, 0, 2, 1], [127, 0, 0, 1], 7, 8));
    for (let i = 0; i < hdr.length; i++) expect(parseProxyHeader(hdr.subarray(0, i)).kind).toBe('incomplete');
    expect(parseProxyHeader(hdr)).toMatchObject({ kind: 'ok', peer: { ip: '192.0.2.1', port: 7 } });
  });

  it('refuses a wrong version, an unknown command, UDP, a short block and an oversized header', () => {
    const good = v2(1, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    const wrongVersion = Buffer.from(good);
    wrongVersion[12] = 0x11;
    expect(parseProxyHeader(wrongVersion).kind).toBe('invalid');
    expect(parseProxyHeader(v2(2, 0x11, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))).kind).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x12, inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))).kind).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(8))).kind).toBe('invalid');
    // Decided from the 16-byte head alone: no need to wait for 64 KB that will never be read.
    const huge = v2(1, 0x11, Buffer.alloc(V2_MAX_PAYLOAD + 1)).subarray(0, 16);
    expect(parseProxyHeader(huge)).toMatchObject({ kind: 'invalid', reason: 'PROXY v2 header too long' });
  });
});

describe('not a header', () => {
  it.each([
    ['an IMAP command', 'a1 LOGIN alice secret\r\n'],
    ['a TLS ClientHello', '\x16\x03\x01\x02\x00'],
    ['an HTTP request', 'GET / HTTP/1.1\r\n'],
    ['lower case', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'],
  ])('refuses %s at once', (_name, text) => {
    expect(parseProxyHeader(Buffer.from(text, 'latin1'))).toMatchObject({ kind: 'invalid', reason: 'no PROXY protocol header' });
  });

  it('decides on the first byte that differs', () => {
    expect(parseProxyHeader(Buffer.from('PRO')).kind).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('PRX')).kind).toBe('invalid');
    expect(parseProxyHeader(Buffer.from('\r\n\r\n\0\r\nQ')).kind).toBe('incomplete');
    expect(parseProxyHeader(Buffer.from('\r\n\r\n\0\r\nX')).kind).toBe('invalid');
  });
});
