/**
 * Prometheus metrics for operators: what the proxy decides and holds, read at scrape time where
 * possible (live sessions come from the session registry, not from counters the fronts would have
 * to keep in step). The policy core stays free of prom-client: the authenticator is wrapped here.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Authenticator } from '../core/authenticate.js';
import type { GuardEvent } from '../core/guard.js';
import type { SessionRegistry } from '../core/sessions.js';
import type { HashLoad } from '../runtime/hasher.js';

export interface Metrics {
  registry: Registry;
  /** The same authenticator, counting every decision and timing it. */
  instrument(a: Authenticator): Authenticator;
  guardEvent(e: GuardEvent): void;
  /** Store reachability as the readiness probe last saw it (1/0). */
  storeUp(up: boolean): void;
  /** Redis reachability (1/0), when `redis` is configured. */
  redisUp(up: boolean): void;
  /** A guard step answered from local state because Redis was unreachable. */
  redisFallback(step: string): void;
}

/** Builds the registry; `sessions` is read at every scrape. */
export function createMetrics(deps: {
  sessions: SessionRegistry;
  defaultMetrics?: boolean;
  redis?: boolean;
  /** bcrypt jobs running and queued, read at every scrape. */
  hashLoad?: HashLoad;
}): Metrics {
  const registry = new Registry();
  if (deps.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'mailgate_' });
  const decisions = new Counter({
    name: 'mailgate_auth_decisions_total',
    help: 'Login decisions by result (accept-passcode, passthrough, reject), reason and protocol',
    labelNames: ['result', 'reason', 'protocol'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'mailgate_auth_decision_seconds',
    help: 'Time to decide a login (store, bcrypt in the workers; not the upstream login)',
    labelNames: ['protocol'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const upstreamResults = new Counter({
    name: 'mailgate_upstream_password_checks_total',
    help: 'Passthrough logins as the upstream judged them',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const guard = new Counter({
    name: 'mailgate_guard_events_total',
    help: 'Brute-force guard events (abuse.block, abuse.account-ceiling, …)',
    labelNames: ['type'] as const,
    registers: [registry],
  });
  // Only with `redis` configured: a one-box install must not show a Redis that is "down".
  const redisRegistries = deps.redis ? [registry] : [];
  // 'min' when a cluster supervisor adds up its workers: Redis is up only if every worker reaches it.
  const redisUp = new Gauge({
    name: 'mailgate_redis_up',
    help: '1 while the shared Redis is reachable',
    registers: redisRegistries,
    aggregator: 'min',
  });
  const redisFallbacks = new Counter({
    name: 'mailgate_redis_fallback_total',
    help: 'Guard steps answered from local state because Redis was unreachable',
    labelNames: ['step'] as const,
    registers: redisRegistries,
  });
  const store = new Gauge({ name: 'mailgate_store_up', help: '1 when the last readiness probe reached the store', registers: [registry] });
  new Gauge({
    name: 'mailgate_sessions',
    help: 'Live logged-in sessions by protocol and kind (passcode or main password)',
    labelNames: ['protocol', 'kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of deps.sessions.list()) this.inc({ protocol: s.protocol, kind: s.passcodeId ? 'passcode' : 'password' });
    },
  });
  new Gauge({
    name: 'mailgate_hash_jobs',
    help: 'bcrypt hashes running on the hash threads and waiting for one (a cold-login storm shows as waiting)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'running' }, deps.hashLoad?.busy ?? 0);
      this.set({ state: 'waiting' }, deps.hashLoad?.waiting ?? 0);
    },
  });
  return {
    registry,
    instrument(a) {
      return {
        ...a,
        async authenticate(req) {
          const end = latency.startTimer({ protocol: req.protocol });
          const d = await a.authenticate(req);
          end();
          decisions.inc({ result: d.kind, reason: d.kind === 'accept-passcode' ? '' : d.reason, protocol: req.protocol });
          return d;
        },
        recordUpstreamResult(req, ok, detail) {
          upstreamResults.inc({ result: ok ? 'accept' : 'reject' });
          return a.recordUpstreamResult(req, ok, detail);
        },
        setPolicy: (p, e) => a.setPolicy(p, e),
      };
    },
    guardEvent(e) {
      guard.inc({ type: e.type });
    },
    redisUp(up) {
      redisUp.set(up ? 1 : 0);
    },
    redisFallback(step) {
      redisFallbacks.inc({ step });
    },
    storeUp(up) {
      store.set(up ? 1 : 0);
    },
  };
}
