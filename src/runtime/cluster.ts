/**
 * `mailgate serve` with `limits.workers` > 1: this process becomes a small supervisor (node:cluster
 * primary). It migrates the store once, forks the workers (cluster-worker.ts) that share the
 * listeners, replaces one that dies (with backoff: a worker that keeps dying at start is retried
 * ever more slowly, never in a storm), relays SIGHUP and SIGTERM/SIGINT, and holds what must exist
 * once for the whole service:
 * - the brute-force guard without Redis (cluster-guard.ts answers the workers over IPC), with the
 *   unblock watch that applies `mailgate unblock` to it;
 * - the run-once jobs (jobs.ts: notices, retention, unused-passcode sweep) — here and not in
 *   worker 0 because the supervisor is never replaced while the service runs, so no job needs a
 *   hand-over and none runs twice while a worker is being replaced;
 * - /metrics, /healthz, /readyz: one scrape adds up every worker's registry (cluster-metrics.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { AuthGuard } from '../core/guard.js';
import { localGuard } from '../core/guard-port.js';
import { watchUnblocks } from '../core/guard-watch.js';
import { SessionRegistry } from '../core/sessions.js';
import type { Config } from '../config/types.js';
import { openCore } from '../main.js';
import { startOps, type OpsHandle } from '../ops/http.js';
import { createMetrics } from '../ops/metrics.js';
import { answerGuard } from './cluster-guard.js';
import { MetricsGatherer } from './cluster-metrics.js';
import { SessionTally } from './cluster-sessions.js';
import { WORKER_INDEX_ENV, type FromWorker, type ToWorker } from './cluster-worker.js';
import { guardEventReporter, guardOptionsFor, startRunOnceJobs } from './jobs.js';
import { createLogger } from './logger.js';

/** A worker that lived shorter than this died "at start": the next restart waits longer. */
const QUICK_DEATH_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;

/** Wait before replacing a worker after `quickDeaths` short lives in a row (0: at once). */
export function restartDelayMs(quickDeaths: number): number {
  return quickDeaths <= 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** (quickDeaths - 1));
}

/** Runs the supervisor until SIGTERM/SIGINT; resolves to the exit code. */
export async function runSupervisor(config: Readonly<Config>, opts: { workers: number; migrate: boolean }): Promise<number> {
  const n = opts.workers;
  const log = createLogger({ level: config.log.level, base: { worker: 'supervisor' } });
  const core = await openCore(config, { migrate: opts.migrate, hashWorkers: 1 });
  const metrics = config.metrics ? createMetrics({ sessions: new SessionRegistry() }) : null;
  const report = guardEventReporter({ log, store: core.store, clock: core.clock, count: (e) => metrics?.guardEvent(e) });
  const broadcast = (m: ToWorker | object) => {
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(m);
  };
  // With Redis the workers share its guard directly, as separate instances do.
  const guard = config.redis
    ? null
    : new AuthGuard(core.clock, guardOptionsFor(config), (e) => {
        report(e);
        if (e.type === 'abuse.unblock') broadcast({ mg: 'guard-unblocked', source: e.source });
      });
  const stopUnblocks = guard
    ? watchUnblocks({
        store: core.store,
        guard: localGuard(guard),
        clock: core.clock,
        onError: (e) => log.error({ err: e.message }, 'unblock watch failed'),
      })
    : () => {};
  const stopJobs = startRunOnceJobs(config, core.store, core.clock, log);
  const gather = new MetricsGatherer(() => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w?.isConnected()));

  let stopping = false;
  let started = false;
  const ready = new Set<number>();
  const life = new Map<number, { worker: Worker; bornAt: number; quickDeaths: number }>();
  // Worker 0's portal counts every worker's live sessions (cluster-sessions.ts).
  const tally = new SessionTally({
    sendToPortal: (m) => {
      const w0 = life.get(0)?.worker;
      if (w0?.isConnected()) w0.send(m);
    },
  });
  const timers = new Set<NodeJS.Timeout>();
  let failStart: (code: number) => void = () => {};
  const startFailed = new Promise<number>((r) => (failStart = r));

  const fork = (index: number, quickDeaths: number) => {
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index) });
    life.set(index, { worker, bornAt: Date.now(), quickDeaths });
    worker.on('message', (m: unknown) => {
      if (guard && answerGuard(guard, m, (r) => worker.isConnected() && worker.send(r))) return;
      if (gather.handle(m) || tally.handle(index, m)) return;
      if ((m as FromWorker)?.mg === 'ready') {
        ready.add(index);
        if (index === 0) tally.portalReady();
        if (!started && ready.size === n) {
          started = true;
          log.info({ workers: n, pids: [...life.values()].map((l) => l.worker.process.pid) }, 'all workers serving');
        } else if (started) log.info({ index, pids: [worker.process.pid] }, 'replacement worker serving');
      }
    });
    worker.on('exit', (code, signal) => {
      ready.delete(index);
      tally.drop(index);
      if (stopping) return;
      if (!started) {
        // A worker that cannot start (port taken, bad certificate) will not start on a retry either.
        log.error({ index, code, signal }, 'a worker exited during start-up; stopping');
        failStart(1);
        return;
      }
      const quick = Date.now() - (life.get(index)?.bornAt ?? 0) < QUICK_DEATH_MS ? quickDeaths + 1 : 0;
      const delayMs = restartDelayMs(quick);
      log.error({ index, code, signal, restartInMs: delayMs }, 'worker died; replacing it');
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopping) fork(index, quick);
      }, delayMs);
      timers.add(t);
    });
  };

  let ops: OpsHandle | null = null;
  let draining = false;
  if (config.metrics && metrics) {
    ops = await startOps(config.metrics.listen, {
      metrics,
      // Not ready while no worker listens (starting, or all of them waiting out a restart backoff).
      draining: () => draining || ready.size === 0,
      pingStore: () => core.store.getAccount('mailgate-readyz-probe'),
      scrape: () => gather.scrape(metrics.registry),
    });
    log.info(ops.address, 'metrics listening (every worker added up)');
  }
  log.info({ workers: n, scheduling: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none' }, 'starting workers');
  for (let i = 0; i < n; i++) fork(i, 0);

  const onHup = () => {
    log.info({ workers: ready.size }, 'SIGHUP: reloading every worker');
    broadcast({ mg: 'reload' });
  };
  process.on('SIGHUP', onHup);
  const signal = await Promise.race([
    new Promise<string>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    }),
    startFailed.then(() => 'start-failed'),
  ]);
  process.off('SIGHUP', onHup);
  stopping = true;
  draining = true;
  for (const t of timers) clearTimeout(t);
  const grace = config.limits.shutdownGraceMs;
  log.info({ signal, graceMs: grace }, 'shutting down: every worker drains');
  // A second signal during the grace period closes at once, as in one process.
  const now = () => broadcast({ mg: 'close' });
  process.once('SIGINT', now);
  process.once('SIGTERM', now);
  broadcast(signal === 'start-failed' ? { mg: 'close' } : { mg: 'shutdown', graceMs: grace });
  await allExited(grace + 5_000, log);
  process.off('SIGINT', now);
  process.off('SIGTERM', now);
  stopUnblocks();
  stopJobs();
  tally.stop();
  await ops?.close();
  await core.close();
  log.info('stopped');
  return signal === 'start-failed' ? 1 : 0;
}

/** Resolves once every worker has exited; kills the ones still there after `ms`. */
async function allExited(ms: number, log: ReturnType<typeof createLogger>): Promise<void> {
  const live = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && !w.isDead());
  const deadline = Date.now() + ms;
  while (live().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const w of live()) {
    log.error({ pid: w.process.pid }, 'worker did not stop within the grace period; killing it');
    w.process.kill('SIGKILL');
  }
}
