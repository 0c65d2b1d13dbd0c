#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm ci` (prepare script).
import os from 'node:os';

// bcrypt (@node-rs/bcrypt) runs on libuv's thread pool, 4 threads unless told otherwise: make room
// for auth.hash_workers (default: cores - 1) next to file and DNS work. Read when the pool starts,
// so it is set before anything uses it; an explicit UV_THREADPOOL_SIZE wins.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism() + 1));
import('../dist/cli/index.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err) => {
      console.error(`mailgate: ${err?.message ? err.message : err}`);
      process.exitCode = 1;
    },
  );
