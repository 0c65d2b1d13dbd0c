/**
 * Session ids (the `sid` of log lines, the registry's key): a random per-process prefix and a
 * counter. Unique across processes and instances like 8 random bytes per session were, without an
 * OpenSSL RAND call (and its fork-check getpid) on every connection.
 */
import { randomBytes } from 'node:crypto';

const prefix = randomBytes(4).toString('hex');
let counter = 0;

/** A fresh id: 8 hex digits of this process's prefix, then at least 8 of a counter. */
export function newSessionId(): string {
  counter += 1;
  return prefix + counter.toString(16).padStart(8, '0');
}
