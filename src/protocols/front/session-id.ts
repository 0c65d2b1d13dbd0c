/**
 * Session ids (the `sid` of log lines, the registry's key, the audit's session_id): a random
 * per-process prefix and a counter from a random start, without an OpenSSL RAND call (and its
 * fork-check getpid) on every connection. Two processes repeat an id only if they draw the same
 * 32-bit prefix and counter ranges that overlap; a counter from 1 in both would have made every
 * pair with the same prefix repeat ids in the same order.
 */
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(4).toString('hex');
let counter = randomBytes(4).readUInt32BE(0);

/** A fresh id: 8 hex digits of this process's prefix, then at least 8 of a counter. */
export function newSessionId(): string {
  counter += 1;
  return prefix + counter.toString(16).padStart(8, '0');
}
