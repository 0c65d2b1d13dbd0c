import { describe, expect, it } from 'vitest';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { DotStuffer, ReplyReader, enhancedCode, xtext } from './reply.js';
import { sendVerbatim } from './responses.js';
import { formatPath } from './relay.js';

/** Dot-stuffs `chunks` as a stream and returns what goes on the wire, terminator included. */
function stuffAll(chunks: string[]): string {
  const d = new DotStuffer();
  return chunks.map((c) => d.stuff(Buffer.from(c, 'latin1')).toString('latin1')).join('') + d.end().toString('latin1');
}

describe('DotStuffer', () => {
  it('doubles a dot at the start of every line, also across chunk boundaries', () => {
    expect(stuffAll(['.a\r\nb.c\r\n..d\r\n.\r\n'])).toBe('..a\r\nb.c\r\n...d\r\n..\r\n.\r\n');
    expect(stuffAll(['x\r', '\n', '.y\r\n'])).toBe('x\r\n..y\r\n.\r\n');
    expect(stuffAll(['x\r\n', '.', '.', 'z\r\n'])).toBe('x\r\n...z\r\n.\r\n');
  });
  it('completes an unterminated last line before the final dot', () => {
    expect(stuffAll([])).toBe('.\r\n');
    expect(stuffAll(['abc'])).toBe('abc\r\n.\r\n');
    expect(stuffAll(['abc\r'])).toBe('abc\r\n.\r\n');
  });
});

describe('ReplyReader', () => {
  it('assembles multi-line replies from arbitrary chunks', () => {
    const r = new ReplyReader();
    expect(r.push(Buffer.from('250-a.example\r\n250-PIPE'))).toEqual([]);
    expect(r.pending).toBe(true);
    expect(r.push(Buffer.from('LINING\r\n250 SIZE 10\r\n550 5.1.1 <x@y>: no\r\n'))).toEqual([
      { code: 250, lines: ['a.example', 'PIPELINING', 'SIZE 10'] },
      { code: 550, lines: ['5.1.1 <x@y>: no'] },
    ]);
    expect(r.pending).toBe(false);
  });
  it('decodes UTF-8 split between chunks and refuses garbage', () => {
    const r = new ReplyReader();
    const bytes = Buffer.from('250 2.0.0 Grüße\r\n');
    expect([...r.push(bytes.subarray(0, 14)), ...r.push(bytes.subarray(14))]).toEqual([{ code: 250, lines: ['2.0.0 Grüße'] }]);
    expect(() => new ReplyReader().push(Buffer.from('HTTP/1.1 400\r\n'))).toThrow(/malformed/);
  });
});

describe('parameters', () => {
  it('xtext-encodes what smtp-server decoded', () => {
    expect(xtext('rfc822;a+b=c@example.com')).toBe('rfc822;a+2Bb+3Dc@example.com');
    expect(xtext('a b\u00e9')).toBe('a+20b+E9');
    expect(xtext('日本')).toBe('日本');
    expect(enhancedCode('5.1.1 <x>: no')).toBe('5.1.1');
    expect(enhancedCode('550 no')).toBeNull();
  });
  it('formats a path with its parameters, domains back to A-labels without SMTPUTF8', () => {
    expect(formatPath({ address: 'a@bücher.example', args: { SIZE: '10', BODY: '8BITMIME' } }, false)).toBe('<a@xn--bcher-kva.example> SIZE=10 BODY=8BITMIME');
    expect(formatPath({ address: 'jörg@bücher.example', args: { SMTPUTF8: true } }, true)).toBe('<jörg@bücher.example> SMTPUTF8');
    expect(formatPath({ address: '', args: false }, false)).toBe('<>');
    expect(formatPath({ address: 'b@example.com', args: { NOTIFY: 'FAILURE', ORCPT: 'rfc822;b+x@example.com' } }, false)).toBe('<b@example.com> NOTIFY=FAILURE ORCPT=rfc822;b+2Bx@example.com');
  });
});

describe('sendVerbatim', () => {
  const wrapped = (enhanced: boolean) => {
    const sent: Array<[number, unknown, unknown]> = [];
    const conn = { send: (code: number, data?: unknown, context?: unknown) => { sent.push([code, data, context]); } } as unknown as SMTPConnection;
    sendVerbatim(conn, () => enhanced);
    return { conn, sent };
  };
  it('sends texts that carry an enhanced code as they are, multi-line included', () => {
    const { conn, sent } = wrapped(true);
    conn.send(554, '5.7.1 <x@y>: Relay access denied');
    conn.send(550, '5.1.1 first\n5.1.1 second');
    conn.send(250, 'Accepted', 'RCPT_TO_OK');
    expect(sent).toEqual([[554, '5.7.1 <x@y>: Relay access denied', false], [550, ['5.1.1 first', '5.1.1 second'], false], [250, 'Accepted', 'RCPT_TO_OK']]);
  });
  it('drops the codes when ENHANCEDSTATUSCODES is not advertised', () => {
    const { conn, sent } = wrapped(false);
    conn.send(535, '5.7.8 Authentication failed');
    expect(sent).toEqual([[535, 'Authentication failed', false]]);
  });
});
