/**
 * One cluster worker (`limits.workers` > 1): the whole server of src/main.ts on the listeners the
 * cluster shares, minus what the supervisor runs once (runtime/jobs.ts), with the supervisor's
 * brute-force guard over IPC (cluster-guard.ts) unless Redis is configured.
 *
 * Signals are the supervisor's alone: a terminal's Ctrl-C and systemd's stop (KillMode=
 * control-group) reach every process of the group, and a worker that acted on them as well would
 * take the supervisor's relayed SIGTERM for the "second signal: close at once". The worker acts on
 * the supervisor's messages instead, and drains by itself if the supervisor goes away.
 */
import { availableParallelism } from 'node:os';
import { AuthGuard } from '../core/guard.js';
import { systemClock } from '../core/types.js';
import type { Config } from '../config/types.js';
import { startServer, type Server } from '../main.js';
import { ipcGuard, type IpcGuard } from './cluster-guard.js';
import type { ClusterRole } from './cluster-role.js';
import { RemoteCounts, reportSessions } from './cluster-sessions.js';
import { defaultHashThreads } from './hasher.js';
import { createLogger } from './logger.js';
import type { Registry } from 'prom-client';

/** Supervisor → worker. */
export type ToWorker = { mg: 'reload' } | { mg: 'shutdown'; graceMs: number } | { mg: 'close' } | { mg: 'metrics-req'; id: number };
/** Worker → supervisor (besides the guard's requests). */
export type FromWorker = { mg: 'ready' } | { mg: 'metrics-res'; id: number; metrics: unknown[] };

/** The environment variable that carries a worker's index (kept when it is replaced). */
export const WORKER_INDEX_ENV = 'MAILGATE_WORKER_INDEX';

/**
 * A worker's share: max_connections and the per-address pre-login cap split between the workers
 * (each counts its own; round robin spreads one address over all of them), bcrypt threads too unless set.
 */
export function workerConfig(config: Readonly<Config>, workers: number, cores = availableParallelism()): Readonly<Config> {
  const share = (n: number) => Math.ceil(n / workers);
  return {
    ...config,
    limits: {
      ...config.limits,
      workers,
      maxConnections: share(config.limits.maxConnections),
      maxPreLoginPerIp: share(config.limits.maxPreLoginPerIp),
    },
    auth: {
      ...config.auth,
      hashWorkers: config.auth.hashWorkers ?? defaultHashThreads(workers, cores),
    },
  };
}

const send = (m: FromWorker | object) => {
  if (process.connected) process.send?.(m);
};

/** Runs this process as worker `MAILGATE_WORKER_INDEX` until the supervisor stops it; resolves to the exit code. */
export async function runWorker(config: Readonly<Config>, workers: number): Promise<number> {
  const index = Number(process.env[WORKER_INDEX_ENV] ?? 0);
  const log = createLogger({ level: config.log.level, base: { worker: index } });
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => {});
  let ipc: IpcGuard | null = null;
  let registry: Registry | null = null;
  let remote: RemoteCounts | null = null;
  const role: ClusterRole = {
    index,
    portal: index === 0,
    guard(opts, onEvent) {
      ipc = ipcGuard({
        channel: { connected: () => process.connected, send: (m) => process.send?.(m) },
        // While the supervisor answers, it reports blocks; while it does not, this worker does.
        local: new AuthGuard(systemClock, opts, (e) => {
          if (!ipc?.up || e.type === 'abuse.table-full') onEvent(e);
        }),
        onLink: (up) =>
          up
            ? log.info('supervisor answers again: brute-force counts shared again')
            : log.error("supervisor not answering: brute-force counts fall back to this worker's own (blocks seen here still hold)"),
      });
      return ipc;
    },
    exposeMetrics: (m) => {
      registry = m.registry;
    },
    shareSessions(sessions) {
      // Worker 0 serves the portal and admin API, which show the counts; the others report theirs.
      if (index === 0) {
        remote = new RemoteCounts();
        sessions.setRemote(remote);
      } else reportSessions({ registry: sessions, send });
    },
  };
  let server: Server;
  try {
    server = await startServer(workerConfig(config, workers), { log, migrate: false, cluster: role });
  } catch (e) {
    log.error({ err: (e as Error).message }, 'worker could not start');
    return 1;
  }
  const done = new Promise<void>((resolve) => {
    let stopping = false; // a second shutdown request (the supervisor's and a disconnect) is the same one
    const stop = (how: () => Promise<void>) => {
      if (stopping) return;
      stopping = true;
      void how().then(resolve);
    };
    process.on('message', (m: unknown) => {
      if (ipc?.handle(m) || remote?.handle(m)) return;
      const msg = m as ToWorker;
      if (msg?.mg === 'reload') {
        server.reload().catch((e: Error) => log.error({ err: e.message }, 'reload failed; keeping the running configuration'));
      } else if (msg?.mg === 'shutdown') {
        stop(() => server.shutdown(msg.graceMs));
      } else if (msg?.mg === 'close') {
        void server.close().then(resolve);
      } else if (msg?.mg === 'metrics-req') {
        void (registry?.getMetricsAsJSON() ?? Promise.resolve([])).then(
          (metrics) => send({ mg: 'metrics-res', id: msg.id, metrics }),
          () => send({ mg: 'metrics-res', id: msg.id, metrics: [] }),
        );
      }
    });
    // No supervisor: no new connections reach this worker, and nobody would stop it.
    process.once('disconnect', () => {
      log.error('supervisor gone; draining and exiting');
      stop(() => server.shutdown(config.limits.shutdownGraceMs));
    });
  });
  send({ mg: 'ready' });
  await done;
  log.info('worker stopped');
  return 0;
}
