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
  // The last TAIL bytes so far, in a buffer of this session's own: no allocation per chunk, and no
  // slice of Node's shared pool kept alive by an idle session.
  const tail = Buffer.allocUnsafeSlow(TAIL);
  let tailLength = 0;
  const found = (b: Buffer) => NEEDLES.some((n) => b.includes(n));
  const scan = (chunk: Buffer): void => {
    // The chunk itself, then only the seam: the kept tail joined with the chunk's first bytes.
    const seam = tailLength ? Buffer.concat([tail.subarray(0, tailLength), chunk.subarray(0, TAIL)]) : null;
    if (found(chunk) || (seam !== null && found(seam))) {
      seen = true;
      client.off('data', scan);
      return;
    }
    if (chunk.length >= TAIL) tailLength = chunk.copy(tail, 0, chunk.length - TAIL);
    else {
      // A short chunk: keep the end of (old tail + chunk).
      const joined = Buffer.concat([tail.subarray(0, tailLength), chunk]);
      tailLength = joined.copy(tail, 0, Math.max(0, joined.length - TAIL));
    }
  };
  scan(pipelined);
  if (!seen) client.on('data', scan);
  return () => seen;
}
