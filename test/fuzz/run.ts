/**
 * npm run fuzz [-- --runs N] [--seconds S]: long fuzzing of the IMAP pre-login front.
 * Any failing input is written to test/fuzz-crashes/ (base64 packets + the failure) to replay.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { exchange, fuzzInput, malformedLines, startFuzzTarget } from './imap-target.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '3600' },
    concurrency: { type: 'string', default: '16' },
  },
});
const runs = Number(values.runs);
const deadline = Date.now() + Number(values.seconds) * 1000;
const crashDir = join(import.meta.dirname, '../fuzz-crashes');
const crashes: unknown[] = [];
process.on('uncaughtException', (e) => crashes.push(e));
process.on('unhandledRejection', (e) => crashes.push(e));

const target = await startFuzzTarget();
let done = 0;
let failures = 0;
const started = Date.now();

async function one(chunks: Buffer[]): Promise<void> {
  const { lines } = await exchange(target.port, chunks, 40);
  const bad = malformedLines(lines);
  const problem = crashes.length
    ? `process error: ${String(crashes.splice(0)[0])}`
    : !lines[0]?.startsWith('* OK')
      ? 'no greeting'
      : bad.length
        ? `malformed: ${JSON.stringify(bad.slice(0, 3))}`
        : null;
  if (problem) {
    failures++;
    mkdirSync(crashDir, { recursive: true });
    const file = join(crashDir, `imap-${Date.now()}-${failures}.json`);
    writeFileSync(file, JSON.stringify({ problem, packets: chunks.map((c) => c.toString('base64')) }, null, 2));
    console.error(`FAIL ${problem} → ${file}`);
  }
}

// Inputs are drawn in batches so a million-input run does not hold a million inputs in memory.
const concurrency = Number(values.concurrency);
while (done < runs && Date.now() < deadline) {
  const batch = fc.sample(fuzzInput, { numRuns: Math.min(5_000, runs - done) }) as Buffer[][];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; i < batch.length && Date.now() < deadline; i += concurrency) {
        await one(batch[i]!);
        done++;
        if (done % 20_000 === 0)
          console.log(`${done} inputs, ${failures} failures, ${Math.round(done / ((Date.now() - started) / 1000))}/s`);
      }
    }),
  );
}
await target.close();
console.log(
  `fuzz: ${done} inputs in ${((Date.now() - started) / 1000).toFixed(0)} s, ${failures} failures${failures ? ` (see ${crashDir})` : ''}`,
);
process.exit(failures ? 1 : 0);
