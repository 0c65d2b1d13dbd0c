/** mailgate serve: run the proxy until SIGINT/SIGTERM. */
import { startServer } from '../main.js';
import { parse, readConfig, type Io } from './util.js';

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) { io.out('mailgate serve [--config FILE]   run the proxy (logs JSON lines to stdout)'); return 0; }
  const config = readConfig(values.config, io);
  const server = await startServer(config);
  // SIGHUP: new certificate and policy without dropping anyone. A broken file keeps the old ones.
  const onHup = () => {
    server.reload().catch((e: Error) => server.log.error({ err: e.message }, 'reload failed; keeping the running configuration'));
  };
  process.on('SIGHUP', onHup);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  process.off('SIGHUP', onHup);
  server.log.info({ signal }, 'shutting down');
  // A second signal during the grace period closes at once.
  const now = () => { void server.close(); };
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  await server.shutdown(config.limits.shutdownGraceMs);
  server.log.info('stopped');
  return 0;
}
