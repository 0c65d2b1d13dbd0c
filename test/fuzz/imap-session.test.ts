/** Bounded property test of the IMAP pre-login front (long runs: npm run fuzz). */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, fuzzInput, malformedLines, startFuzzTarget, type FuzzTarget } from './imap-target.js';

describe('IMAP pre-login front under random input', () => {
  let target: FuzzTarget;
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => {
    crashes.push(e);
  };
  beforeAll(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    target = await startFuzzTarget();
  });
  afterAll(async () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await target.close();
  });

  it('answers every input with well-formed responses or a clean close, and keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fuzzInput, async (chunks) => {
        const { lines } = await exchange(target.port, chunks);
        expect(lines[0]).toMatch(/^\* OK \[CAPABILITY /);
        expect(malformedLines(lines)).toEqual([]);
        expect(crashes).toEqual([]);
      }),
      { numRuns: 150 },
    );
    // Still alive and well after all of it.
    const { lines } = await exchange(target.port, [Buffer.from('z1 CAPABILITY\r\n')]);
    expect(lines.at(-1)).toBe('z1 OK Capability completed.');
  }, 60_000);

  it('answers a stray literal and a flood of bad commands as specified', async () => {
    const { lines, closed } = await exchange(target.port, [
      Buffer.from('a1 LOGIN {2000}\r\nb1 FOO\r\nb2 FOO\r\nb3 FOO\r\nb4 FOO\r\nb5 FOO\r\n'),
    ]);
    expect(lines[1]).toBe('a1 BAD Literal too large');
    expect(lines.at(-1)).toBe('* BYE Too many invalid IMAP commands.');
    expect(closed).toBe(true);
    const http = await exchange(target.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(http.closed).toBe(true);
    expect(http.lines).toHaveLength(1); // the greeting only
  });
});
