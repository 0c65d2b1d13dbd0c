/**
 * SMTP wire helpers for the upstream side: a reply reader (RFC 5321 §4.2, multi-line replies) and
 * xtext (RFC 3461 §4) for XCLIENT values.
 */

/** One complete reply: the code and the text lines without the "250-"/"250 " prefixes. */
export interface Reply {
  code: number;
  lines: string[];
}

const MAX_LINE = 64 * 1024;
const MAX_LINES = 200;

/** Assembles replies from bytes; `push` returns the replies completed by this chunk. */
export class ReplyReader {
  private partial = '';
  private lines: string[] = [];
  /** The raw bytes (latin1) of the lines in `lines`, for takeRest(). */
  private linesRaw = '';

  push(chunk: Buffer): Reply[] {
    // Upstream texts are ASCII or UTF-8 (SMTPUTF8); decode per line so no character is split.
    const out: Reply[] = [];
    let data = this.partial + chunk.toString('latin1');
    for (let nl = data.indexOf('\n'); nl >= 0; nl = data.indexOf('\n')) {
      const raw = data.slice(0, nl).replace(/\r$/, '');
      this.linesRaw += data.slice(0, nl + 1);
      data = data.slice(nl + 1);
      const line = Buffer.from(raw, 'latin1').toString('utf8');
      const m = /^(\d{3})([ -]?)(.*)$/s.exec(line);
      if (!m) throw new Error(`malformed reply line from the upstream: ${line.slice(0, 200)}`);
      this.lines.push(m[3] ?? '');
      if (this.lines.length > MAX_LINES) throw new Error('too many reply lines from the upstream');
      if (m[2] !== '-') {
        out.push({ code: Number(m[1]), lines: this.lines });
        this.lines = [];
        this.linesRaw = '';
      }
    }
    if (data.length > MAX_LINE) throw new Error('reply line from the upstream too long');
    this.partial = data;
    return out;
  }

  /** The bytes of an incomplete reply, handed over at splice time (and forgotten here). */
  takeRest(): Buffer {
    const rest = Buffer.from(this.linesRaw + this.partial, 'latin1');
    this.lines = [];
    this.linesRaw = '';
    this.partial = '';
    return rest;
  }

  /** Bytes received but not yet part of a complete line (must be empty before STARTTLS). */
  get pending(): boolean {
    return this.partial.length > 0 || this.lines.length > 0;
  }
}

/** A reply as one line of text, for logs. */
export function replyText(r: Reply): string {
  return `${r.code} ${r.lines.join(' / ')}`.slice(0, 300);
}

/**
 * xtext: "+" and "=", controls, space and non-ASCII bytes as +HH. A char up to U+00FF goes as
 * the byte it stands for; a wider char (UTF-8 from a client name) is passed through as UTF-8.
 */
export function xtext(value: string): string {
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c > 32 && c < 127 && ch !== '+' && ch !== '=') out += ch;
    else if (c <= 0xff) out += `+${c.toString(16).toUpperCase().padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}
