/**
 * IMAP wire format: the only file that knows emailjs-imap-handler (so it can be replaced, as
 * wildduck and imapflow both ended up doing). Provides
 *  - LineReader: assembles complete commands/responses from a byte stream, including literals
 *    ({n} synchronising and {n+} non-synchronising, RFC 7888), with strict size limits;
 *  - parseCommand(): a complete command → typed tag/name/arguments;
 *  - quoting helpers for what we send.
 */
import handler from 'emailjs-imap-handler';

export type ImapArg =
  | { kind: 'atom'; value: string }
  | { kind: 'string'; value: Buffer } // quoted string or literal: raw bytes (UTF-8 passwords!)
  | { kind: 'list'; items: ImapArg[] }
  | { kind: 'nil' };

export interface ImapCommand {
  tag: string;
  /** Upper-cased command name, e.g. LOGIN. */
  name: string;
  args: ImapArg[];
}

export class WireError extends Error {
  constructor(
    readonly code: 'line-too-long' | 'literal-too-large' | 'parse',
    message: string,
    readonly tag: string | null = null,
    /** The stream cannot be resynchronised (a non-synchronising literal we refuse is in flight). */
    readonly fatal = false,
  ) {
    super(message);
  }
}

export interface ReaderLimits {
  maxLineBytes: number;
  maxLiteralBytes: number;
  /** Total bytes of one command, literals included. */
  maxCommandBytes: number;
  /**
   * Commands whose first line matches `match` may be up to `maxBytes` long (line and command):
   * e.g. ID, whose RFC 2971 size (30 fields of 1024-octet values) is far above a login's.
   */
  longCommand?: { match: RegExp; maxBytes: number };
}

export type ReadItem =
  | { type: 'line'; data: Buffer } // a complete command/response (literals inline), without the final CRLF
  | { type: 'error'; error: WireError };

const LITERAL_AT_END = /\{(\d{1,10})(\+)?\}$/;

/**
 * Incremental reader. Feed bytes with push(); complete items come out through next()/shift().
 * When a synchronising literal announcement arrives, `onSyncLiteral(size)` is asked whether to
 * accept it (the caller then sends "+ …"); a refused literal aborts the command.
 */
export class LineReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private literalLeft = 0;
  private readonly items: ReadItem[] = [];
  /** When true, literals are not interpreted (AUTHENTICATE continuation lines, SMTP-style lines). */
  rawLines = false;

  constructor(
    private readonly limits: ReaderLimits,
    private readonly onSyncLiteral: (size: number, line: Buffer) => boolean = () => true,
  ) {}

  /** Buffers bytes. Parsing is lazy (in shift()), so bytes the caller never asked for stay raw. */
  push(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
  }

  /** The next complete item, if the buffered bytes hold one. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  shift(): ReadItem | undefined {
    if (this.items.length === 0) this.drain();
    return this.items.shift();
  }

  /** Everything received but not returned by shift() (handed to the upstream at splice time). */
  takeRemaining(): Buffer {
    const rest = Buffer.concat([...this.parts, ...this.chunks]);
    this.chunks = [];
    this.buffered = 0;
    this.parts = [];
    this.partsBytes = 0;
    this.literalLeft = 0;
    return rest;
  }

  /** Drops everything received so far (STARTTLS: bytes pipelined in clear must not survive). */
  discard(): void {
    this.takeRemaining();
    this.items.length = 0;
  }

  private buf(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private consume(n: number): Buffer {
    const b = this.buf();
    const out = b.subarray(0, n);
    const rest = b.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return out;
  }

  /** Is the command starting at `head` one that may be long? Decided on its first line only. */
  private isLong(head: Buffer): boolean {
    const l = this.limits.longCommand;
    return l !== undefined && l.match.test(head.subarray(0, 80).toString('latin1'));
  }

  private fail(code: WireError['code'], msg: string, fatal = false, head?: Buffer): void {
    const tag = extractTag(this.parts.length ? Buffer.concat(this.parts) : (head ?? Buffer.alloc(0)));
    this.items.push({ type: 'error', error: new WireError(code, msg, tag, fatal) });
    this.parts = [];
    this.partsBytes = 0;
    this.literalLeft = 0;
  }

  private drain(): void {
    while (this.buffered > 0 && this.items.length === 0) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, this.buffered);
        this.parts.push(Buffer.from(this.consume(n)));
        this.literalLeft -= n;
        continue;
      }
      const b = this.buf();
      if (this.parts.length === 0 && !this.skipToEol) this.long = this.isLong(b);
      const maxLine = this.long ? this.limits.longCommand!.maxBytes : this.limits.maxLineBytes;
      const maxCommand = this.long ? this.limits.longCommand!.maxBytes : this.limits.maxCommandBytes;
      const lf = b.indexOf(0x0a);
      if (lf < 0) {
        if (this.buffered > maxLine) {
          // The tag was read: the BAD goes under it (RFC 3501 §7.1.3), even for the first line.
          const head = Buffer.from(b.subarray(0, 80));
          this.consume(this.buffered);
          this.skipToEol = true;
          this.fail('line-too-long', 'Line too long', false, head);
        }
        return;
      }
      const raw = this.consume(lf + 1);
      if (this.skipToEol) {
        this.skipToEol = false;
        continue;
      }
      const line = raw.subarray(0, raw.length - (raw.length >= 2 && raw[raw.length - 2] === 0x0d ? 2 : 1));
      if (line.length > maxLine) {
        this.fail('line-too-long', 'Line too long', false, line);
        continue;
      }
      this.partsBytes += line.length;
      if (this.partsBytes > maxCommand) {
        this.fail('line-too-long', 'Command too long');
        continue;
      }
      // Only a line ending in "}" can announce a literal: most lines skip the string and the regex.
      const m = this.rawLines || line[line.length - 1] !== 0x7d ? null : LITERAL_AT_END.exec(line.subarray(-14).toString('latin1'));
      if (!m) {
        // A one-line command (the usual case) is copied once, not copied and then concatenated.
        this.parts.push(line);
        this.items.push({ type: 'line', data: Buffer.concat(this.parts) });
        this.parts = [];
        this.partsBytes = 0;
        continue;
      }
      const size = Number(m[1]);
      const sync = m[2] !== '+';
      if (size > this.limits.maxLiteralBytes || this.partsBytes + size > maxCommand) {
        // A non-synchronising literal is already on its way: its bytes must be skipped, which we
        // cannot do safely within limits, so the caller closes the connection.
        this.parts.push(Buffer.from(line));
        this.fail('literal-too-large', 'Literal too large', !sync);
        continue;
      }
      this.parts.push(Buffer.from(line), CRLF);
      this.partsBytes += size + 2;
      if (sync && !this.onSyncLiteral(size, line)) {
        this.parts = [];
        this.partsBytes = 0;
        continue;
      }
      this.literalLeft = size;
      if (size === 0) continue;
    }
  }
  private skipToEol = false;
  /** The command being read matched `longCommand`. */
  private long = false;
}

const CRLF = Buffer.from('\r\n');

/** A plausible tag at the start of a (possibly broken) command, for the BAD answer; else null. */
export function extractTag(line: Buffer): string | null {
  const m = /^([\x21\x23-\x27\x2c-\x5b\x5d-\x7a\x7c\x7e]{1,64}) /.exec(line.subarray(0, 80).toString('latin1'));
  return m?.[1] ?? null;
}

type HandlerNode = null | { type: string; value: unknown } | HandlerNode[];

function convert(node: HandlerNode): ImapArg {
  if (node === null) return { kind: 'nil' };
  if (Array.isArray(node)) return { kind: 'list', items: node.map(convert) };
  if (node.type === 'STRING' || node.type === 'LITERAL') {
    const v = node.value;
    return { kind: 'string', value: typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v as Uint8Array) };
  }
  return { kind: 'atom', value: String(node.value) };
}

/** Parses a complete command (as produced by LineReader). Throws WireError('parse'). */
export function parseCommand(line: Buffer): ImapCommand {
  return (line.length <= SIMPLE_LOGIN_MAX ? simpleLogin(line) : null) ?? parseWithLibrary(line);
}

/** parseCommand through emailjs-imap-handler only (exported for wire.test.ts's comparison). */
export function parseWithLibrary(line: Buffer): ImapCommand {
  let parsed: { tag: string; command: string; attributes?: HandlerNode[] };
  try {
    parsed = handler.parser(new Uint8Array(line.buffer, line.byteOffset, line.length), { valueAsString: false });
  } catch (e) {
    throw new WireError('parse', `Error in IMAP command: ${(e as Error).message.replace(/[\r\n]/g, ' ').slice(0, 100)}`, extractTag(line));
  }
  const args = (parsed.attributes ?? []).map(convert);
  let name = String(parsed.command).toUpperCase();
  // The handler folds the mechanism into the command name ("AUTHENTICATE PLAIN"): unfold it.
  const sp = name.indexOf(' ');
  if (sp > 0) {
    args.unshift({ kind: 'atom', value: name.slice(sp + 1) });
    name = name.slice(0, sp);
  }
  return { tag: parsed.tag, name, args };
}

/** A character a quoted string may hold as it is: printable ASCII but '"' and '\' (RFC 9051 QUOTED-CHAR, ASCII). */
const QUOTED_CHAR = String.raw`[\x20\x21\x23-\x5b\x5d-\x7e]`;
/** A value that goes between quotes without escapes or replacements (imapString, quote). */
const QUOTE_SAFE = new RegExp(`^${QUOTED_CHAR}*$`);

/**
 * The one command every login sends, in the form mail apps send it — `tag LOGIN user password`,
 * each an atom of common characters or a quoted string of printable ASCII — parsed without the
 * library (2 µs of a warm login's parse, down to 0.2). Anything else (literals, 8-bit, NIL, odd
 * characters) returns null and goes through the library; wire.test.ts checks on thousands of
 * generated lines that both give the same command wherever this one answers.
 */
function simpleLogin(line: Buffer): ImapCommand | null {
  // Only a command whose name starts with L or l is worth the string and the regex (ID, NOOP … are not).
  const sp = line.indexOf(0x20);
  if (sp < 1 || ((line[sp + 1] ?? 0) | 0x20) !== 0x6c) return null;
  const m = SIMPLE_LOGIN.exec(line.toString('latin1'));
  if (!m) return null;
  const user = simpleArg(m[2]!);
  const password = simpleArg(m[3]!);
  return user && password ? { tag: m[1]!, name: 'LOGIN', args: [user, password] } : null;
}

const SIMPLE_ARG = String.raw`("(?:${QUOTED_CHAR}|\\["\\])*"|[A-Za-z0-9@._+-]{1,255})`;
const SIMPLE_LOGIN = new RegExp(`^([A-Za-z0-9.]{1,64}) [Ll][Oo][Gg][Ii][Nn] ${SIMPLE_ARG} ${SIMPLE_ARG}$`);
const SIMPLE_LOGIN_MAX = 2048;

function simpleArg(text: string): ImapArg | null {
  if (text.startsWith('"')) return { kind: 'string', value: Buffer.from(text.slice(1, -1).replace(/\\(["\\])/g, '$1'), 'latin1') };
  // The library reads the atom NIL as nil (which LOGIN refuses): left to it.
  return /^nil$/i.test(text) ? null : { kind: 'atom', value: text };
}

/** String value of an astring argument (atom, quoted or literal), UTF-8 decoded; null otherwise. */
export function astring(arg: ImapArg | undefined): string | null {
  if (!arg) return null;
  if (arg.kind === 'atom') return arg.value;
  if (arg.kind === 'string') return arg.value.toString('utf8');
  return null;
}

/**
 * Encodes a string for sending: a quoted string when it is safe, else a literal. Non-ASCII and
 * CR/LF/NUL must go as literals; `{n+}` when the peer announced LITERAL+.
 */
export function imapString(value: string, literalPlus: boolean): { text: string; literal: Buffer | null } {
  if (QUOTE_SAFE.test(value) && value.length < 1000) return { text: `"${value}"`, literal: null };
  if (/^[\x20-\x7e]*$/.test(value) && value.length < 1000) return { text: `"${value.replace(/(["\\])/g, '\\$1')}"`, literal: null };
  const bytes = Buffer.from(value, 'utf8');
  return { text: `{${bytes.length}${literalPlus ? '+' : ''}}`, literal: bytes };
}

/** Quoted string for responses we generate ourselves (ASCII only, specials escaped). */
export function quote(value: string): string {
  // Nothing to replace or escape is the usual case (ten ID fields per login): one test, no copies.
  if (QUOTE_SAFE.test(value)) return `"${value}"`;
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/(["\\])/g, '\\$1')}"`;
}
