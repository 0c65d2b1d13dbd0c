/** mailgate serve: run the proxy until SIGINT/SIGTERM. */
import { startServer } from '../main.js';
import { parse, readConfig, type Io } from './util.js';

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) { io.out('mailgate serve [--config FILE]   run the proxy (logs JSON lines to stdout)'); return 0; }
  const server = await startServer(readConfig(values.config, io));
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => { server.log.info({ signal: sig }, 'shutting down'); resolve(); };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
  return 0;
}
