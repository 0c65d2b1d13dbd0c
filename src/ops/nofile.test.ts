import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseNofile, readNofile, sessionsAllowed } from './nofile.js';

describe('open-file limit', () => {
  it('reads the limits of this process', () => {
    expect(
      parseNofile('Limit  Soft Limit  Hard Limit  Units\nMax open files            1024                 524288               files     \n'),
    ).toEqual({ soft: 1024, hard: 524288 });
    expect(parseNofile('Max open files            unlimited            unlimited            files')).toEqual({
      soft: Infinity,
      hard: Infinity,
    });
    expect(parseNofile('nothing here')).toBeNull();
    const mine = readNofile();
    expect(mine && mine.soft > 0 && mine.soft <= mine.hard).toBe(true);
    expect(sessionsAllowed({ soft: 65536, hard: 65536 })).toBe(32640);
  });

  it('needs no raising: Node starts with its soft limit at the hard one (child started with 512)', () => {
    const hard = readNofile()!.hard;
    const script = `import('./src/ops/nofile.ts').then((m) => console.log(JSON.stringify(m.readNofile())))`;
    const out = execFileSync(
      'prlimit',
      [`--nofile=512:${Number.isFinite(hard) ? hard : 'unlimited'}`, process.execPath, '--import', 'tsx', '-e', script],
      { encoding: 'utf8' },
    );
    const seen = JSON.parse(out.trim()) as { soft: number | null; hard: number | null };
    expect(seen.soft).toBe(seen.hard); // Infinity arrives as null through JSON: still equal
  });
});
