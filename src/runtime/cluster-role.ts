/** What startServer (src/main.ts) needs to know when it runs as one worker of several (runtime/cluster.ts). */
import type { GuardEvent, GuardOptions } from '../core/guard.js';
import type { Guard } from '../core/guard-port.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { Metrics } from '../ops/metrics.js';

export interface ClusterRole {
  /** 0 … workers-1; a replaced worker keeps its index. */
  index: number;
  /** This worker serves the portal and the admin API (worker 0: see cluster-worker.ts). */
  portal: boolean;
  /** The guard without Redis: the supervisor's, over IPC (cluster-guard.ts). */
  guard(opts: GuardOptions, onEvent: (e: GuardEvent) => void): Guard;
  /** Hands over the worker's registry, which the supervisor's /metrics adds up. */
  exposeMetrics(metrics: Metrics): void;
  /** Shares live-session counts: worker 0's registry counts every worker's (cluster-sessions.ts). */
  shareSessions(sessions: SessionRegistry): void;
}
