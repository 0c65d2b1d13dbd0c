/**
 * The reader of CRLF-terminated line protocols (SMTP, POP3): complete lines out, a too-long line
 * reported once and skipped up to its end. Parsing is lazy (in shift()), so bytes nobody asked for
 * stay raw and go to the upstream untouched at splice time.
 */
import type { LineSource, ReadItem } from './conn.js';

export class LineTooLong extends Error {
  constructor() {
    super('Line too long');
  }
}

export class PlainLineReader implements LineSource<LineTooLong> {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skipToEol = false;

  constructor(private readonly maxLineBytes: number) {}

  push(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  shift(): ReadItem<LineTooLong> | undefined {
    for (;;) {
      if (this.buffered === 0) return undefined;
      if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
      const b = this.chunks[0]!;
      const lf = b.indexOf(0x0a);
      if (lf < 0) {
        if (this.buffered <= this.maxLineBytes) return undefined;
        // Report once, then drop bytes until the end of that line: the next line starts clean.
        this.take(this.buffered);
        if (this.skipToEol) continue;
        this.skipToEol = true;
        return { type: 'error', error: new LineTooLong() };
      }
      const raw = this.take(lf + 1);
      if (this.skipToEol) {
        this.skipToEol = false;
        continue;
      }
      const line = raw.subarray(0, raw.length - (raw.length >= 2 && raw[raw.length - 2] === 0x0d ? 2 : 1));
      if (line.length > this.maxLineBytes) return { type: 'error', error: new LineTooLong() };
      return { type: 'line', data: Buffer.from(line) };
    }
  }

  takeRemaining(): Buffer {
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  discard(): void {
    this.takeRemaining();
    this.skipToEol = false;
  }

  private take(n: number): Buffer {
    const b = this.chunks[0]!;
    const rest = b.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return b.subarray(0, n);
  }
}
