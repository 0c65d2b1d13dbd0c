/**
 * Start-up wiring: config → store → core → fronts. The only module that imports all layers.
 */
import { createMetrics, type Metrics } from './ops/metrics.js';
import { startOps, type OpsHandle } from './ops/http.js';
import { readNofile, sessionsAllowed } from './ops/nofile.js';
import { randomBytes } from 'node:crypto';
import { createObserver } from './core/observe.js';
import { createAuthenticator, type Authenticator } from './core/authenticate.js';
import { VerifiedCache } from './core/cache.js';
import { NetworkSet } from './core/enforcement.js';
import type { Guard } from './core/guard-port.js';
import { watchUnblocks } from './core/guard-watch.js';
import { identityFor, type Identity } from './core/identity.js';
import { deriveKeys, type ServerKeys } from './core/keys.js';
import { createManager, type Manager } from './core/manage.js';
import { watchLivePolicy } from './core/livepolicy.js';
import { watchRevocations } from './core/revocations.js';
import { SessionRegistry } from './core/sessions.js';
import { systemClock, type Clock, type Hasher } from './core/types.js';
import { loadOrCreateSecret } from './config/secret.js';
import { loadConfig } from './config/load.js';
import type { Config } from './config/types.js';
import { createHasher, defaultHashThreads, type HashLoad } from './runtime/hasher.js';
import { createLogger, type Logger } from './runtime/logger.js';
import type { ClusterRole } from './runtime/cluster-role.js';
import { canAppendNotices, guardEventReporter, guardOptionsFor, startRunOnceJobs } from './runtime/jobs.js';
import { loadServerTls } from './net/tls.js';
import { startImapFront, type ImapFront } from './protocols/imap/listener.js';
import { UpstreamInfo } from './protocols/imap/upstream-info.js';
import { startSmtpFront, type SmtpFront } from './protocols/smtp/front.js';
import { pop3Adapter } from './protocols/pop3/adapter.js';
import { startPop3Front, type Pop3Front } from './protocols/pop3/front.js';
import { Pop3UpstreamInfo } from './protocols/pop3/upstream-info.js';
import { createImapLogin, mailSettingsFrom, startPortal, type PortalHandle } from './portal/index.js';
import { openStore } from './store/index.js';
import { connectShared, createGuard, outageHooks, type Shared, type SharedHooks } from './shared/index.js';
import type { Store } from './store/types.js';
import { batchWrites, readsAfterWrites, type WriteBatcher } from './store/write-batch.js';
import { rowCacheFor, type RowCache } from './store/row-cache.js';

/** The policy core with its store: what the CLI needs, and what the server builds on. */
export interface Core {
  config: Readonly<Config>;
  store: Store;
  hasher: Hasher & HashLoad;
  keys: ServerKeys;
  clock: Clock;
  cache: VerifiedCache;
  sessions: SessionRegistry;
  manager: Manager;
  /** The one account name for a typed name, used by every part (core/identity.ts). */
  identity: Identity;
  /** The Redis several instances share (`redis:` configured), or null. */
  shared: Shared | null;
  /** The login path's audit/last-use writes, batched per `audit.write_batch` when `batchWrites` was asked. */
  writes: WriteBatcher;
  /** The in-memory account/passcode rows (`serve`, store/row-cache.ts), or null when not cached. */
  rows: RowCache | null;
  close(): Promise<void>;
}

/** Opens the configured store (migrating it unless `migrate: false`) and builds the policy core on it. */
export async function openCore(
  config: Readonly<Config>,
  opts: {
    clock?: Clock;
    hashWorkers?: number;
    migrate?: boolean;
    onStoreError?: (e: Error) => void;
    redis?: SharedHooks & { subscribe: boolean };
    /** serve: batch the login path's writes (the CLI writes each at once). */
    batchWrites?: boolean;
    onWriteError?: (e: Error, rows: number) => void;
    /** serve: keep the login path's account and passcode rows in memory (store/row-cache.ts). */
    cacheRows?: boolean;
  } = {},
): Promise<Core> {
  const clock = opts.clock ?? systemClock;
  const keys = deriveKeys(loadOrCreateSecret(config.secretFile));
  const shared = config.redis
    ? await connectShared(config.redis, opts.redis?.subscribe ?? false, {
        // The CLI says nothing of an outage: its pushes are only a shortcut for the pollers.
        onDown: (r) => opts.redis?.onDown(r),
        onUp: () => opts.redis?.onUp(),
      })
    : null;
  let raw: Store;
  let rows: RowCache | null = null;
  try {
    const opened = await openStore(config, { migrate: opts.migrate, onError: opts.onStoreError });
    raw = shared ? shared.wrap(opened) : opened;
    // The row cache sits under the batcher and readsAfterWrites, so every write of this process
    // passes through it — the batcher's commit of passcodes' last use included (else a cached
    // row's lastUsedAt would stay old and each login would queue a write) — and over the
    // publisher, which only adds a publish after appendAudit, a write it lets through untouched.
    if (opts.cacheRows) {
      const ttlMs = config.store.rowCacheTtlMs;
      rows = rowCacheFor(opened, raw, { ttlMs, link: shared?.link ?? null, now: () => clock.now() });
    }
    if (rows) {
      raw = rows.store;
      // Every push, before the poller it wakes reads the store: a revocation pushed from another
      // instance holds at the next login here. (Polls that find a change do the same: Core.rows.)
      shared?.waker.beforeWake(rows.invalidate);
    }
  } catch (e) {
    await shared?.close();
    throw e;
  }
  // The login path's audit events and last-use (never pushed ones) go through the batcher.
  const writes = batchWrites(raw, { tickMs: opts.batchWrites ? config.audit.writeBatchMs : 0, onError: opts.onWriteError });
  const store = readsAfterWrites(raw, writes);
  const hasher = createHasher({
    size: opts.hashWorkers ?? config.auth.hashWorkers ?? defaultHashThreads(),
    cost: config.auth.bcryptCost,
    nice: config.auth.hashNice,
  });
  const cache = new VerifiedCache(keys.cache, config.auth.cacheTtlMs, clock);
  const sessions = new SessionRegistry();
  const identity = identityFor(config);
  const expireUnusedMs = config.passcodes.expireUnusedMs;
  const manager = createManager({
    store,
    hasher,
    keys,
    clock,
    random: randomBytes,
    policy: config.policy,
    cache,
    sessions,
    identity,
    expireUnusedMs,
  });
  return {
    config,
    store,
    hasher,
    keys,
    clock,
    cache,
    sessions,
    manager,
    identity,
    shared,
    writes,
    rows,
    async close() {
      await hasher.close();
      await store.close();
      await shared?.close();
    },
  };
}

export interface Server {
  core: Core;
  authenticator: Authenticator;
  guard: Guard;
  imap: ImapFront | null;
  /** The IMAP upstream's learnt face and connection pool (stats for tests and the bench). */
  imapUpstream: UpstreamInfo | null;
  smtp: SmtpFront | null;
  pop3: Pop3Front | null;
  portal: PortalHandle | null;
  /** The operators' listener (/metrics, /healthz, /readyz), when `metrics` is configured. */
  ops: OpsHandle | null;
  log: Logger;
  /** Re-reads the config file: new certificate and policy; main-password sessions of newly enforced accounts end. */
  reload(): Promise<void>;
  /** Stops accepting, lets live sessions go on for up to graceMs, then closes everything. */
  shutdown(graceMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Starts every configured front. `log` defaults to JSON lines on stdout at the configured level. */
export async function startServer(
  config: Readonly<Config>,
  opts: {
    log?: Logger;
    clock?: Clock;
    migrate?: boolean;
    /** One worker of `limits.workers` > 1 (runtime/cluster.ts); absent: the whole server in this process. */
    cluster?: ClusterRole;
  } = {},
): Promise<Server> {
  const role = opts.cluster ?? null;
  const log = opts.log ?? createLogger({ level: config.log.level });
  const tls = config.tls ? loadServerTls(config.tls) : null;
  let metrics: Metrics | null = null;
  let resync: (() => Promise<number>) | undefined;
  const core = await openCore(config, {
    ...opts,
    onStoreError: (e) => log.warn({ err: e.message }, 'store connection lost; the pool reconnects'),
    redis: outageHooks(log, {
      up: (up) => metrics?.redisUp(up),
      resync: () => resync?.() ?? Promise.resolve(0),
    }),
    batchWrites: true,
    cacheRows: true,
    onWriteError: (e, rows) => log.error({ err: e.message, rows }, 'cannot write the audit log (batch)'),
  });
  metrics = config.metrics ? createMetrics({ sessions: core.sessions, redis: core.shared !== null, hashLoad: core.hasher }) : null;
  if (metrics) role?.exposeMetrics(metrics);
  role?.shareSessions(core.sessions);
  if (core.shared) metrics?.redisUp(core.shared.link.up);
  let draining = false;
  const onGuardEvent = guardEventReporter({ log, store: core.store, clock: core.clock, count: (e) => metrics?.guardEvent(e) });
  // Several workers without Redis: the supervisor's one guard, over IPC (runtime/cluster-guard.ts);
  // it also watches for admins' unblocks (below).
  const guardInSupervisor = role !== null && !core.shared;
  const guard: Guard & { resync?: () => Promise<number> } = guardInSupervisor
    ? role.guard(guardOptionsFor(config), onGuardEvent)
    : createGuard({
        clock: core.clock,
        shared: core.shared,
        onFallback: (step) => metrics?.redisFallback(step),
        opts: guardOptionsFor(config),
        onEvent: onGuardEvent,
      });
  resync = guard.resync;
  // A live view, so that a SIGHUP policy reload reaches the portal and the live sessions too.
  let currentPolicy = config.policy;
  let currentExempt = new NetworkSet(config.policy.exemptNetworks);
  const decide = createAuthenticator({
    store: core.store,
    writes: core.writes,
    hasher: core.hasher,
    keys: core.keys,
    policy: config.policy,
    exempt: currentExempt,
    cache: core.cache,
    clock: core.clock,
    guard,
    identity: core.identity,
    observer: createObserver({
      store: core.store,
      clock: core.clock,
      notices: config.notify.enabled && canAppendNotices(config),
      onError: (e, account) => log.error({ err: e.message, account }, 'cannot record a would-break login (observe mode)'),
    }),
    expireUnusedMs: config.passcodes.expireUnusedMs,
    onAuditError: (e) => log.error({ err: e.message }, 'cannot write the audit log'),
  });
  const authenticator = metrics ? metrics.instrument(decide) : decide;
  const nofile = readNofile();
  // Per process: a cluster worker's config carries its share of max_connections (runtime/cluster-worker.ts).
  if (nofile && nofile.soft < 2 * config.limits.maxConnections && (role?.index ?? 0) === 0) {
    log.warn(
      {
        openFiles: nofile.soft,
        sessions: sessionsAllowed(nofile),
        maxConnections: config.limits.maxConnections,
        workers: config.limits.workers,
      },
      'the open-files limit holds fewer sessions than limits.max_connections (two descriptors per session; the limit is per process, max_connections shared out between the workers): raise it (systemd LimitNOFILE=65536)',
    );
  }
  const enforcesDomains = config.policy.enforce === 'all' || config.policy.enforce.some((e) => !e.target.includes('@'));
  if (enforcesDomains && config.identity.defaultDomain === null && config.identity.domains === null) {
    log.warn(
      'identity.default_domain and identity.domains are not set: if the upstream adds or drops domains (auth_username_format, auth_default_realm), a name typed without its domain is another account for mailgate and escapes enforcement; run `mailgate doctor --user USER`',
    );
  }
  const stopUnblocks = guardInSupervisor
    ? () => {}
    : watchUnblocks({
        store: core.store,
        guard,
        clock: core.clock,
        wake: core.shared?.waker.for('unblocks'),
        onChange: core.rows?.invalidate,
        onError: (e) => log.error({ err: e.message }, 'unblock watch failed'),
      });
  const livePolicy = watchLivePolicy({
    store: core.store,
    sessions: core.sessions,
    cache: core.cache,
    clock: core.clock,
    policy: () => ({ policy: currentPolicy, exempt: currentExempt }),
    wake: core.shared?.waker.for('livepolicy'),
    onChange: core.rows?.invalidate,
    onError: (e) => log.error({ err: e.message }, 'live policy watch failed'),
  });
  const stopWatching = watchRevocations({
    store: core.store,
    cache: core.cache,
    sessions: core.sessions,
    clock: core.clock,
    wake: core.shared?.waker.for('revocations'),
    onChange: core.rows?.invalidate,
    onError: (e) => log.error({ err: e.message }, 'revocation watch failed'),
  });
  // Run-once jobs: in a cluster the supervisor runs them (runtime/jobs.ts says why).
  const stopJobs = role ? () => {} : startRunOnceJobs(config, core.store, core.clock, log);

  let imap: ImapFront | null = null;
  let upstreamInfo: UpstreamInfo | null = null;
  let smtp: SmtpFront | null = null;
  let pop3: Pop3Front | null = null;
  let portal: PortalHandle | null = null;
  let ops: OpsHandle | null = null;
  try {
    const l = config.limits; // the session's limits in its settings, the listener's (connections) apart
    const refusalHint = config.auth.refusalHint ? { url: config.portal?.publicUrl ?? null } : null;
    if (config.imap) {
      upstreamInfo = new UpstreamInfo(config.imap.upstream, (e) =>
        log.warn({ err: e.message }, 'IMAP upstream: cannot open a connection for the pool'),
      );
      try {
        await upstreamInfo.probe();
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'IMAP upstream not reachable at start; will retry on each login');
      }
      imap = await startImapFront(
        {
          settings: {
            upstream: config.imap.upstream,
            allowPlaintextAuth: config.policy.allowPlaintextAuth,
            failureDelayMs: config.auth.failureDelayMs,
            failureJitterMs: config.auth.failureJitterMs,
            refusalHint,
            idleTimeoutMs: l.idleTimeoutMs,
            maxBadCommands: l.maxBadCommands,
            maxLineBytes: l.maxLineBytes,
            maxLiteralBytes: l.maxLiteralBytes,
            maxPreLoginCommands: l.maxPreLoginCommands,
          },
          tls,
          authenticator,
          sessions: core.sessions,
          upstreamInfo,
          log,
          now: () => core.clock.now(),
        },
        config.imap.listen,
        config.limits,
      );
    }
    if (config.smtp) {
      smtp = await startSmtpFront(
        {
          settings: {
            upstream: config.smtp.upstream,
            hostname: config.smtp.hostname,
            allowPlaintextAuth: config.policy.allowPlaintextAuth,
            failureDelayMs: config.auth.failureDelayMs,
            failureJitterMs: config.auth.failureJitterMs,
            refusalHint,
            idleTimeoutMs: config.limits.idleTimeoutMs,
            maxBadCommands: config.limits.maxBadCommands,
            maxLineBytes: config.limits.maxLineBytes,
            maxPreLoginCommands: config.limits.maxPreLoginCommands,
          },
          tls,
          authenticator,
          sessions: core.sessions,
          log,
          now: () => core.clock.now(),
        },
        config.smtp.listen,
        config.limits,
      );
    }
    if (config.pop3) {
      const info = new Pop3UpstreamInfo(config.pop3.upstream);
      try {
        await info.probe();
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'POP3 upstream not reachable at start; will retry on each login');
      }
      pop3 = await startPop3Front(
        {
          settings: {
            allowPlaintextAuth: config.policy.allowPlaintextAuth,
            failureDelayMs: config.auth.failureDelayMs,
            failureJitterMs: config.auth.failureJitterMs,
            refusalHint,
            ...config.limits,
          },
          tls,
          authenticator,
          sessions: core.sessions,
          adapter: pop3Adapter(config.pop3.upstream, info),
          info,
          log,
          now: () => core.clock.now(),
        },
        config.pop3.listen,
        config.limits,
      );
    }
    // In a cluster one worker serves the portal: shown-once secrets and in-flight slots live in its memory.
    if (config.portal && config.imap && role && !role.portal) log.debug('portal served by worker 0');
    else if (config.portal && config.imap) {
      portal = await startPortal({
        store: core.store,
        manager: core.manager,
        hasher: core.hasher,
        keys: core.keys,
        clock: core.clock,
        sessions: core.sessions,
        identity: core.identity,
        portal: config.portal,
        admin: config.admin,
        policy: {
          get enforce() {
            return currentPolicy.enforce;
          },
        },
        mail: mailSettingsFrom(config, { imap: imap?.addresses, smtp: smtp?.addresses }),
        imapLogin: createImapLogin(config.imap.upstream),
        log,
        guard,
      });
      if (!config.admin.token) log.info('admin API off (no admin token configured)');
    } else if (config.portal) log.warn('the portal needs an imap section (it checks main passwords with the IMAP server); not started');
    // In a cluster the supervisor listens and adds up the workers' registries (runtime/cluster.ts).
    if (config.metrics && metrics && !role) {
      ops = await startOps(config.metrics.listen, {
        metrics,
        draining: () => draining,
        pingStore: () => core.store.getAccount('mailgate-readyz-probe'),
      });
    }
  } catch (e) {
    await ops?.close();
    await portal?.close();
    await pop3?.close();
    await smtp?.close();
    await imap?.close();
    upstreamInfo?.close();
    stopWatching();
    stopUnblocks();
    stopJobs();
    livePolicy.stop();
    await core.close();
    throw e;
  }

  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= (async () => {
      stopWatching();
      stopUnblocks();
      stopJobs();
      livePolicy.stop();
      await ops?.close();
      await portal?.close();
      await imap?.close();
      upstreamInfo?.close();
      await smtp?.close();
      await pop3?.close();
      core.sessions.closeAll('shutdown');
      // Every queued login event is committed before the store closes (SIGTERM loses none).
      await core.writes.flush().catch((e: Error) => log.error({ err: e.message }, 'cannot write the audit log (final batch)'));
      await core.close();
    })();
    return closed;
  };
  return {
    core,
    authenticator,
    guard,
    imap,
    imapUpstream: upstreamInfo,
    smtp,
    pop3,
    portal,
    ops,
    log,
    close,
    async reload() {
      if (!config.file) throw new Error('this server was not started from a configuration file');
      const next = loadConfig(config.file);
      const nextTls = next.tls ? loadServerTls(next.tls) : null;
      currentExempt = new NetworkSet(next.policy.exemptNetworks);
      authenticator.setPolicy(next.policy, currentExempt);
      currentPolicy = next.policy;
      // Main-password sessions of accounts the new policy enforces end now (exempt networks aside).
      const ended = await livePolicy.recheckAll();
      if (ended) log.info({ sessions: ended }, 'ended main-password sessions of accounts the new policy enforces');
      if (nextTls) {
        imap?.reloadTls(nextTls);
        smtp?.reloadTls(nextTls);
        pop3?.reloadTls(nextTls);
      }
      log.info(
        { enforce: next.policy.enforce, exemptNetworks: next.policy.exemptNetworks },
        'configuration reloaded (certificate and policy)',
      );
    },
    async shutdown(graceMs) {
      draining = true; // /readyz says 503 at once, so the load balancer stops sending new clients
      await imap?.stopAccepting();
      await smtp?.stopAccepting();
      await pop3?.stopAccepting();
      log.info({ sessions: core.sessions.size, graceMs }, 'no longer accepting connections; draining live sessions');
      const deadline = Date.now() + graceMs;
      while (core.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (core.sessions.size > 0) log.info({ sessions: core.sessions.size }, 'grace period over: closing the remaining sessions');
      await close();
    },
  };
}
