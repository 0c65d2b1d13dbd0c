/** Runs the CLI from source in its own process (tests of signals and process lifecycle). */
import { main } from '../../src/cli/index.js';

process.exitCode = await main(process.argv.slice(2));
