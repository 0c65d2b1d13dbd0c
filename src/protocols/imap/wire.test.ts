import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { imapString, LineReader, parseCommand, parseWithLibrary, WireError, type ReadItem } from './wire.js';

const LIMITS = { maxLineBytes: 200, maxLiteralBytes: 100, maxCommandBytes: 400 };

function readAll(chunks: Buffer[], limits = LIMITS): { items: ReadItem[]; continuations: number[] } {
  const continuations: number[] = [];
  const r = new LineReader(limits, (n) => {
    continuations.push(n);
    return true;
  });
  const items: ReadItem[] = [];
  for (const c of chunks) {
    r.push(c);
    for (let it = r.shift(); it; it = r.shift()) items.push(it);
  }
  return { items, continuations };
}

const text = (items: ReadItem[]) => items.map((i) => (i.type === 'line' ? `L:${i.data.toString('latin1')}` : `E:${i.error.code}`));

describe('LineReader', () => {
  it('assembles literals, asks for synchronising ones only', () => {
    const { items, continuations } = readAll([Buffer.from('a1 LOGIN {5}\r\nalice {3+}\r\npw!\r\na2 NOOP\r\n')]);
    expect(text(items)).toEqual(['L:a1 LOGIN {5}\r\nalice {3+}\r\npw!', 'L:a2 NOOP']);
    expect(continuations).toEqual([5]);
  });

  it('reports over-long lines and literals, and resynchronises on the next line', () => {
    const { items } = readAll([Buffer.from(`${'x'.repeat(300)}\r\na1 LOGIN {500}\r\na2 NOOP\r\n`)]);
    expect(text(items)).toEqual(['E:line-too-long', 'E:literal-too-large', 'L:a2 NOOP']);
  });

  it('marks a refused non-synchronising literal as fatal (its bytes are already in flight)', () => {
    const { items } = readAll([Buffer.from('a1 LOGIN {500+}\r\n')]);
    expect(items[0]).toMatchObject({ type: 'error', error: { code: 'literal-too-large', fatal: true, tag: 'a1' } });
  });

  it('leaves bytes it was not asked for untouched (handed to the upstream after login)', () => {
    const r = new LineReader(LIMITS);
    r.push(Buffer.from('a1 LOGIN u p\r\na2 SELECT {5}\r\nINBOX\r\na3 IDLE\r\n'));
    expect(r.shift()).toMatchObject({ type: 'line' });
    expect(r.takeRemaining().toString()).toBe('a2 SELECT {5}\r\nINBOX\r\na3 IDLE\r\n');
  });

  it('gives the same items however the stream is cut into packets (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.constantFrom('a1 NOOP\r\n', 'a2 LOGIN {3}\r\nabc\r\n', 'a3 LOGIN {2+}\r\nxy "q"\r\n', '\r\n', '{0}\r\n', 'x {999}\r\n'),
            fc.string({ maxLength: 30 }),
          ),
          { maxLength: 12 },
        ),
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 10 }),
        (parts, cuts) => {
          const all = Buffer.from(parts.join(''), 'latin1');
          const chunks: Buffer[] = [];
          for (let i = 0, k = 0; i < all.length; k++) {
            const n = cuts[k % cuts.length]!;
            chunks.push(all.subarray(i, i + n));
            i += n;
          }
          expect(text(readAll(chunks).items)).toEqual(text(readAll([all]).items));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('parseCommand', () => {
  it('parses LOGIN with atoms, quoted strings and UTF-8 literals', () => {
    const pw = Buffer.from('pä "ss" w', 'utf8');
    const cmd = parseCommand(Buffer.concat([Buffer.from(`t1 login "al ice" {${pw.length}}\r\n`), pw]));
    expect(cmd.tag).toBe('t1');
    expect(cmd.name).toBe('LOGIN');
    expect(cmd.args.map((a) => (a.kind === 'string' ? a.value.toString('utf8') : a.kind))).toEqual(['al ice', 'pä "ss" w']);
  });

  it('unfolds AUTHENTICATE into command + mechanism', () => {
    expect(parseCommand(Buffer.from('t AUTHENTICATE plain AGEAYg=='))).toMatchObject({
      name: 'AUTHENTICATE',
      args: [
        { kind: 'atom', value: 'PLAIN' },
        { kind: 'atom', value: 'AGEAYg==' },
      ],
    });
  });

  it('reads a LOGIN line as the library does, whether or not the quick path takes it (property)', () => {
    // Lines made of the characters where the quick path's edges are: quotes, backslashes, spaces,
    // NIL, brackets, 8-bit, tags with '+' or '*'; the command in any case.
    const piece = fc.oneof(
      fc.constantFrom('"', '\\', ' ', 'NIL', 'nil', '(', ')', '{', '}', '%', '*', ']', '+', '~', 'é', '\x7f', '@', '.', '-', '_'),
      fc.stringMatching(/^[A-Za-z0-9]{1,6}$/),
    );
    const text = fc.array(piece, { maxLength: 8 }).map((a) => a.join(''));
    const arg = fc.oneof(
      text,
      text.map((t) => `"${t}"`),
    );
    const tag = fc.oneof(fc.stringMatching(/^[A-Za-z0-9.]{1,6}$/), text);
    const name = fc.constantFrom('LOGIN', 'login', 'LoGiN', 'LOGIN ', 'LOGINX');
    let quick = 0;
    fc.assert(
      fc.property(tag, name, arg, arg, (t, n, u, p) => {
        const line = Buffer.from(`${t} ${n} ${u} ${p}`, 'latin1');
        let expected: unknown;
        try {
          expected = parseWithLibrary(line);
        } catch (e) {
          expected = (e as Error).message;
        }
        let got: unknown;
        try {
          got = parseCommand(line);
        } catch (e) {
          got = (e as Error).message;
        }
        expect(got).toEqual(expected);
        if (/^[A-Za-z0-9.]+ login /i.test(line.toString('latin1')) && typeof got === 'object') quick++;
      }),
      { numRuns: 5000 },
    );
    expect(quick).toBeGreaterThan(500); // the property did exercise parsed LOGIN lines
  });

  it('throws only WireError, for any input (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseCommand(Buffer.from(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('imapString', () => {
  it('quotes what is safe and uses literals for the rest', () => {
    expect(imapString('alice@example.com', false)).toEqual({ text: '"alice@example.com"', literal: null });
    expect(imapString('a"b\\c', false)).toEqual({ text: '"a\\"b\\\\c"', literal: null });
    expect(imapString('pä', true)).toEqual({ text: '{3+}', literal: Buffer.from('pä') });
    expect(imapString('a\r\nb', false).text).toBe('{4}');
  });
});
