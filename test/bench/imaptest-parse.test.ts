/** The bench's reading of imaptest's end-of-run block (a real run's output against Dovecot 2.3.19). */
import { describe, expect, it } from 'vitest';
import { parseImaptest } from '../../bench/imaptest.js';

const OUT = `Logi Sele Logo 
100% 100% 100% 
 128  128  128   0/ 10
 112  112  112   1/ 10
  10    0    0 ms/cmd avg

Totals:
Logi Sele Logo 
100% 100% 100% 
 376  375  384 
`;

describe('parseImaptest', () => {
  it('reads the totals and the average per command column', () => {
    const r = parseImaptest(OUT, 4);
    expect(r.totals).toEqual({ Logi: 376, Sele: 375, Logo: 384 });
    expect(r.avgMs.Logi).toBe(10);
    expect(r.seconds).toBe(4);
  });
  it('says so when imaptest printed no totals (it failed to connect, say)', () => {
    expect(() => parseImaptest('Error: connect(127.0.0.1) failed: Connection refused\n', 4)).toThrow(/no totals/);
  });
});
