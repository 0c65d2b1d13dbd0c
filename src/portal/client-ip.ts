/**
 * The address a portal request really comes from. Behind a reverse proxy every request arrives
 * from the proxy's address, so throttles, the shared brute-force guard, the audit log and the
 * upstream's own penalties would all land on the proxy: a few wrong sign-ins would lock out every
 * user (and the webmail on the same host). X-Forwarded-For fixes that, but only a proxy we trust
 * may say it: any client can send the header, and any client can put anything on its left.
 */
import { isIP } from 'node:net';
import type { NetworkSet } from '../core/enforcement.js';

/** More trusted hops than any sane proxy chain; bounds the walk (the header's left part is the client's). */
const MAX_HOPS = 20;

/**
 * The real client address: the TCP peer, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For entry that is not itself a trusted proxy. A malformed entry on that walk (the
 * proxies we trust wrote it, so it means a misconfiguration) falls back to the peer.
 */
export function clientIp(peer: string, forwardedFor: string | string[] | undefined, trusted: NetworkSet): string {
  if (forwardedFor === undefined || !trusted.has(peer)) return peer;
  // Node joins repeated X-Forwarded-For headers with ", "; an array is accepted all the same.
  const hops = [forwardedFor]
    .flat()
    .join(',')
    .split(',')
    .map((s) => s.trim());
  let found = peer;
  for (let i = hops.length - 1, walked = 0; i >= 0 && walked < MAX_HOPS; i--, walked++) {
    const hop = hops[i]!.toLowerCase();
    if (isIP(hop) === 0) return peer;
    found = hop;
    // Entries left of the first untrusted one were written by the client itself: never read them.
    if (!trusted.has(hop)) return hop;
  }
  // Every hop is one of our proxies (a request from the proxy host itself): the left-most one read.
  return found;
}
