/** mailgate serve: run the proxy until SIGINT/SIGTERM. */
import cluster from 'node:cluster';
import { startServer } from '../main.js';
import { runSupervisor } from '../runtime/cluster.js';
import { runWorker } from '../runtime/cluster-worker.js';
import { CliError, parse, readConfig, type Io } from './util.js';

export async function serveCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { 'no-migrate': { type: 'boolean', default: false }, workers: { type: 'string' } });
  if (values.help) {
    io.out('mailgate serve [--config FILE] [--no-migrate] [--workers N]   run the proxy (logs JSON lines to stdout)');
    return 0;
  }
  const config = readConfig(values.config, io);
  const workers = values.workers === undefined ? config.limits.workers : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new CliError('--workers: expected a whole number from 1 to 256');
  // Several processes on the shared listeners (runtime/cluster.ts); the workers run this same command.
  if (cluster.isWorker) {
    const code = await runWorker(config, workers);
    process.exit(code); // the IPC channel would keep the worker alive; its logs are written synchronously
  }
  if (workers > 1) return runSupervisor(config, { workers, migrate: !values['no-migrate'] });
  // --no-migrate: schema changes are applied by `mailgate migrate` (one deploy step for N instances).
  const server = await startServer(config, { migrate: !values['no-migrate'] });
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
  const now = () => {
    void server.close();
  };
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  await server.shutdown(config.limits.shutdownGraceMs);
  server.log.info('stopped');
  return 0;
}
