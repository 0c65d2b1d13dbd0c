import { describe, expect, it } from 'vitest';
import { ReplyReader, xtext } from './reply.js';
import { formatReply, isBad, R } from './replies.js';

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
  it('hands over the bytes of an unfinished reply, exactly as received, at splice time', () => {
    const r = new ReplyReader();
    expect(r.push(Buffer.from('250 ok\r\n220-hello\r\n220 wo'))).toEqual([{ code: 250, lines: ['ok'] }]);
    expect(r.takeRest().toString('latin1')).toBe('220-hello\r\n220 wo');
    expect(r.pending).toBe(false);
  });
});

describe('parameters', () => {
  it('xtext-encodes XCLIENT values', () => {
    expect(xtext('rfc822;a+b=c@example.com')).toBe('rfc822;a+2Bb+3Dc@example.com');
    expect(xtext('a b\u00e9')).toBe('a+20b+E9');
    expect(xtext('日本')).toBe('日本');
  });
});

describe("mailgate's own replies", () => {
  it('are written with the enhanced code only when it is advertised, multi-line with dashes', () => {
    expect(formatReply(R.authFailed, true)).toBe('535 5.7.8 Authentication failed\r\n');
    expect(formatReply(R.authFailed, false)).toBe('535 Authentication failed\r\n');
    expect(formatReply({ code: 250, lines: ['mx.example', 'PIPELINING', 'AUTH PLAIN LOGIN'] }, true)).toBe(
      '250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n',
    );
  });
  it('count as bad commands only for syntax and sequence errors', () => {
    expect([R.unknownCommand, R.heloSyntax, R.sayHelloFirst, R.unknownMechanism, R.lineTooLong].every(isBad)).toBe(true);
    expect([R.authFailed, R.authRequired, R.encryptionRequired, R.unavailable, R.ok].some(isBad)).toBe(false);
  });
});
