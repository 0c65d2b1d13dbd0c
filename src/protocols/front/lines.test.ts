import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/logger.js';
import { PlainLineReader } from './lines.js';
import { refusalLog } from './refusals.js';

describe('PlainLineReader', () => {
  it('gives complete lines, one error per over-long line, and hands over the rest untouched', () => {
    const r = new PlainLineReader(10);
    r.push(Buffer.from('EHLO a\r\nAUTH PL'));
    expect(r.shift()).toEqual({ type: 'line', data: Buffer.from('EHLO a') });
    expect(r.shift()).toBeUndefined();
    r.push(Buffer.from('AIN\r\n'));
    expect(r.shift()).toEqual({ type: 'line', data: Buffer.from('AUTH PLAIN') });
    r.push(Buffer.from('x'.repeat(25)));
    expect(r.shift()?.type).toBe('error');
    r.push(Buffer.from('y'.repeat(25)));
    expect(r.shift()).toBeUndefined(); // still the same long line: no second error
    r.push(Buffer.from('\r\nNOOP\nMAIL FROM:<a@b>\r\n.\r\n'));
    expect(r.shift()).toEqual({ type: 'line', data: Buffer.from('NOOP') });
    expect(r.takeRemaining().toString()).toBe('MAIL FROM:<a@b>\r\n.\r\n');
    expect(r.bufferedBytes).toBe(0);
  });
});

describe('refusal log', () => {
  it('logs the first refusal of a source at once, then one summary line per source per window', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(c, _e, cb) {
          lines.push(JSON.parse(String(c)) as Record<string, unknown>);
          cb();
        },
      }),
    });
    const r = refusalLog(log, { proto: 'imap' }, 50);
    for (let i = 0; i < 1000; i++) r.refused('198.51.100.7');
    r.refused('198.51.100.8');
    expect(lines.map((l) => [l.ip, l.refused])).toEqual([
      ['198.51.100.7', 1],
      ['198.51.100.8', 1],
    ]);
    await new Promise((res) => setTimeout(res, 80));
    expect(lines.map((l) => [l.ip, l.refused])).toEqual([
      ['198.51.100.7', 1],
      ['198.51.100.8', 1],
      ['198.51.100.7', 999],
    ]);
    r.refused('198.51.100.7'); // still being refused: counted into the next summary, not logged alone
    r.stop();
    expect(lines.map((l) => [l.ip, l.refused]).at(-1)).toEqual(['198.51.100.7', 1]);
    expect(lines).toHaveLength(4);
  });
});
