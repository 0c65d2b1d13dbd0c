/**
 * After `COMPRESS DEFLATE` (RFC 4978) every byte in both directions is deflated, so a clear-text
 * goodbye from mailgate would reach the client as garbage. The splice does not parse the stream;
 * this only looks for the command on the client's side (it is the last clear-text command of the
 * session) so the goodbye can be skipped once it was sent. imapflow, for one, sends it right after
 * login whenever the upstream offers it (Dovecot does).
 *
 * A false positive (the words inside an APPEND literal) only costs the goodbye line: the session
 * is closed as before. Mixed-case spellings are not looked for; no known client sends them.
 */
import type { Socket } from 'node:net';

const NEEDLES = [Buffer.from(' COMPRESS DEFLATE'), Buffer.from(' compress deflate')];
/** Kept from the end of each chunk, so a command split across two chunks is still seen. */
const TAIL = NEEDLES[0]!.length - 1;

/** Watches what the client sends from now on (and `pipelined`); the result says whether COMPRESS was seen. */
export function watchCompress(client: Socket, pipelined: Buffer): () => boolean {
  let seen = false;
  let tail = Buffer.alloc(0);
  const scan = (chunk: Buffer): void => {
    const b = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    if (NEEDLES.some((n) => b.includes(n))) {
      seen = true;
      client.off('data', scan);
      return;
    }
    tail = Buffer.from(b.subarray(Math.max(0, b.length - TAIL)));
  };
  scan(pipelined);
  if (!seen) client.on('data', scan);
  return () => seen;
}
