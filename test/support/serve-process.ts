/**
 * `mailgate serve` as a real child process (through test/support/cli-process.ts under tsx), with
 * everything it prints collected: for the tests that need signals, a kill -9 or the process's own
 * log lines (lifecycle, batched audit writes, HAProxy failover).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface ServeProcess {
  proc: ChildProcess;
  /** stdout and stderr so far. */
  readonly out: string;
  /** Resolves to the first match of `re` in the output once it appears; throws with the output after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Resolves to the exit code once the process has exited. */
  exited(): Promise<number | null>;
}

/**
 * Starts `mailgate serve --config FILE [...args]`; `dist`: the built CLI (bin/mailgate.js, after
 * `tsc -p tsconfig.build.json`), as an admin runs it — cluster workers re-run the same entry.
 */
export function spawnServe(configFile: string, opts: { args?: string[]; dist?: boolean } = {}): ServeProcess {
  const entry = opts.dist
    ? [join(import.meta.dirname, '../../bin/mailgate.js')]
    : ['--import', 'tsx', join(import.meta.dirname, 'cli-process.ts')];
  const proc = spawn(process.execPath, [...entry, 'serve', '--config', configFile, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += String(d)));
  proc.stderr!.on('data', (d) => (out += String(d)));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    get out() {
      return out;
    },
    async waitFor(re, ms = 30_000) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`timeout waiting for ${re} in:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return re.exec(out)!;
    },
    exited: () => exit,
  };
}
