/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), parsed from the bytes
 * received so far: a load balancer in TCP mode puts it before anything else on the connection, so
 * mailgate learns the client's address instead of the balancer's. Pure: the socket side
 * (net/proxied.ts) feeds it what arrived and acts on the answer.
 */
import { isIP } from 'node:net';
import { unmapIpv4 } from '../core/ip.js';

/** The client's address as the balancer saw it. */
export interface Peer {
  ip: string;
  port: number;
}

export type ProxyParse =
  /** Not enough bytes yet to decide. */
  | { kind: 'incomplete' }
  /** Not a PROXY header (or a broken one): the connection is dropped. */
  | { kind: 'invalid'; reason: string }
  /**
   * A header of `consumed` bytes; the protocol's own bytes follow. `peer` null: LOCAL (the
   * balancer's own health check) or UNKNOWN/UNSPEC — the connection's own address applies.
   */
  | { kind: 'ok'; consumed: number; peer: Peer | null };

/** v1 is one text line of at most 107 bytes, CRLF included (spec section 2.1). */
export const V1_MAX = 107;
/** v2's addresses and TLVs: the spec allows 65535 bytes; we skip TLVs and want none that big. */
export const V2_MAX_PAYLOAD = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** Parses the header at the start of `buf` (everything received so far). */
export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { kind: 'incomplete' };
  if (startsLike(buf, V2_SIG)) return buf.length < V2_SIG.length ? { kind: 'incomplete' } : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(buf);
  return { kind: 'invalid', reason: 'no PROXY protocol header' };
}

/** True when `buf` and `sig` agree on their common length (a prefix still arriving counts). */
function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyParse {
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end < 0) return buf.length >= V1_MAX ? { kind: 'invalid', reason: 'PROXY v1 line too long' } : { kind: 'incomplete' };
  if (end + 2 > V1_MAX) return { kind: 'invalid', reason: 'PROXY v1 line too long' };
  const consumed = end + 2;
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  // "PROXY UNKNOWN" may carry anything after it; the receiver ignores it (section 2.1).
  if (parts[1] === 'UNKNOWN') return { kind: 'ok', consumed, peer: null };
  if (parts.length !== 6) return { kind: 'invalid', reason: 'PROXY v1 line malformed' };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return { kind: 'invalid', reason: 'PROXY v1 protocol not TCP4/TCP6/UNKNOWN' };
  if (isIP(src) !== family || isIP(dst) !== family) return { kind: 'invalid', reason: 'PROXY v1 address malformed' };
  const port = v1Port(sport);
  if (port === null || v1Port(dport) === null) return { kind: 'invalid', reason: 'PROXY v1 port malformed' };
  return { kind: 'ok', consumed, peer: { ip: unmapIpv4(src), port } };
}

/** A decimal port without leading zeros, 0-65535 (the spec's form). */
function v1Port(s: string): number | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

function parseV2(buf: Buffer): ProxyParse {
  if (buf.length < 16) return { kind: 'incomplete' };
  const verCmd = buf[12]!;
  const famProto = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: 'PROXY v2 version not 2' };
  const command = verCmd & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: 'PROXY v2 command unknown' };
  if (len > V2_MAX_PAYLOAD) return { kind: 'invalid', reason: 'PROXY v2 header too long' };
  if (buf.length < 16 + len) return { kind: 'incomplete' };
  const consumed = 16 + len;
  // LOCAL: the balancer speaking for itself (health checks); its address block is skipped.
  if (command === 0) return { kind: 'ok', consumed, peer: null };
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  // UNSPEC (or AF_UNIX): the receiver must ignore the address block (section 2.2).
  if (family === 0 || family === 3) return { kind: 'ok', consumed, peer: null };
  if (transport !== 1) return { kind: 'invalid', reason: 'PROXY v2 transport not a stream' };
  const body = buf.subarray(16, consumed);
  if (family === 1) {
    // src(4) dst(4) sport(2) dport(2); TLVs after it are skipped.
    if (len < 12) return { kind: 'invalid', reason: 'PROXY v2 address block too short' };
    const ip = [...body.subarray(0, 4)].join('.');
    return { kind: 'ok', consumed, peer: { ip, port: body.readUInt16BE(8) } };
  }
  if (family === 2) {
    if (len < 36) return { kind: 'invalid', reason: 'PROXY v2 address block too short' };
    return { kind: 'ok', consumed, peer: { ip: unmapIpv4(ipv6(body.subarray(0, 16))), port: body.readUInt16BE(32) } };
  }
  return { kind: 'invalid', reason: 'PROXY v2 address family unknown' };
}

/** 16 bytes → canonical text (compressed by the URL parser's own formatter). */
function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}
