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

/**
 * Watches what the client sends from now on (and what it pipelined); `seen` says whether COMPRESS
 * went by. One per spliced session, kept as long as it idles: it holds the last few bytes as a
 * short string, not a buffer of its own (a Buffer costs a backing store and two objects).
 */
export class CompressWatch {
  seen = false;
  /** The last TAIL bytes so far (latin1), so a command split across two chunks is still seen. */
  private tail = '';
  private client: Socket | null = null;
  private onData: ((chunk: Buffer) => void) | null = null;

  /** Starts on the bytes the client pipelined behind its login, then on each chunk it sends. */
  watch(client: Socket, pipelined: Buffer): void {
    this.scan(pipelined);
    if (this.seen) return;
    this.client = client;
    // Assigned here, not a class field: under esbuild's keepNames (tsx, vitest) a named arrow gets a
    // property dictionary of its own, ~250 bytes per idle session.
    this.onData = (chunk) => this.scan(chunk);
    client.on('data', this.onData);
  }

  private scan(chunk: Buffer): void {
    // The chunk itself, then only the seam: the kept tail joined with the chunk's first bytes.
    const seam = this.tail ? this.tail + chunk.toString('latin1', 0, Math.min(chunk.length, TAIL)) : '';
    if (found(chunk) || (seam !== '' && found(Buffer.from(seam, 'latin1')))) {
      this.seen = true;
      if (this.onData) this.client?.off('data', this.onData);
      this.client = null;
      this.onData = null;
      return;
    }
    // A short chunk: keep the end of (old tail + chunk).
    const joined = chunk.length >= TAIL ? chunk.toString('latin1', chunk.length - TAIL) : this.tail + chunk.toString('latin1');
    this.tail = joined.slice(-TAIL);
  }
}

const found = (b: Buffer): boolean => NEEDLES.some((n) => b.includes(n));
