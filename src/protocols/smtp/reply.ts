/**
 * SMTP wire helpers for the upstream side: a reply reader (RFC 5321 §4.2, multi-line replies),
 * xtext (RFC 3461 §4) for ESMTP parameter and XCLIENT values, and the dot-stuffing of DATA.
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

  push(chunk: Buffer): Reply[] {
    // Upstream texts are ASCII or UTF-8 (SMTPUTF8); decode per line so no character is split.
    const out: Reply[] = [];
    let data = this.partial + chunk.toString('latin1');
    let nl: number;
    while ((nl = data.indexOf('\n')) >= 0) {
      const raw = data.slice(0, nl).replace(/\r$/, '');
      data = data.slice(nl + 1);
      const line = Buffer.from(raw, 'latin1').toString('utf8');
      const m = /^(\d{3})([ -]?)(.*)$/s.exec(line);
      if (!m) throw new Error(`malformed reply line from the upstream: ${line.slice(0, 200)}`);
      this.lines.push(m[3] ?? '');
      if (this.lines.length > MAX_LINES) throw new Error('too many reply lines from the upstream');
      if (m[2] !== '-') {
        out.push({ code: Number(m[1]), lines: this.lines });
        this.lines = [];
      }
    }
    if (data.length > MAX_LINE) throw new Error('reply line from the upstream too long');
    this.partial = data;
    return out;
  }

  /** Bytes received but not yet part of a complete line (must be empty before STARTTLS). */
  get pending(): boolean { return this.partial.length > 0 || this.lines.length > 0; }
}

/** The enhanced status code (RFC 3463) a reply line starts with, if any. */
export function enhancedCode(line: string): string | null {
  return /^([245]\.\d{1,3}\.\d{1,3})(?: |$)/.exec(line)?.[1] ?? null;
}

/** A reply as one line of text, for logs. */
export function replyText(r: Reply): string {
  return `${r.code} ${r.lines.join(' / ')}`.slice(0, 300);
}

/**
 * xtext: "+" and "=", controls, space and non-ASCII bytes as +HH. smtp-server decodes +HH into
 * one char per byte, so chars up to U+00FF go back as the byte they came from; a wider char
 * (raw UTF-8 the client sent) is passed through as UTF-8.
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

/**
 * Dot-stuffing for DATA (RFC 5321 §4.5.2): a "." at the start of a line is doubled. Stateful
 * across chunks (a line may start in the next chunk). `end()` gives the terminator.
 */
export class DotStuffer {
  private atLineStart = true;
  private last2 = '';

  stuff(chunk: Buffer): Buffer {
    if (chunk.length === 0) return chunk;
    const parts: Buffer[] = [];
    let from = 0;
    let lineStart = this.atLineStart;
    for (let i = 0; i < chunk.length; i++) {
      if (lineStart && chunk[i] === 0x2e) {
        parts.push(chunk.subarray(from, i + 1)); // up to and including the dot, which is sent again
        from = i;
      }
      lineStart = chunk[i] === 0x0a;
    }
    parts.push(chunk.subarray(from));
    this.atLineStart = lineStart;
    this.last2 = (this.last2 + chunk.subarray(-2).toString('latin1')).slice(-2);
    return parts.length === 1 ? chunk : Buffer.concat(parts);
  }

  /** The end-of-data marker, completing the last line first if the data did not end with CRLF. */
  end(): Buffer {
    if (this.last2 === '' || this.last2 === '\r\n') return Buffer.from('.\r\n');
    return Buffer.from(this.last2.endsWith('\r') ? '\n.\r\n' : '\r\n.\r\n');
  }
}
