/**
 * The parts of a serving process that a cluster runs exactly once, not once per worker
 * (runtime/cluster.ts runs them in the supervisor; one process runs them in startServer):
 * - the notice follower: in every worker, each security notice would be APPENDed N times;
 * - audit retention and the unused-passcode sweep: N workers would race on the same deletes;
 * - the one in-memory brute-force guard's options and its event report (log, metrics, audit),
 *   so the supervisor's guard reports a block exactly as a single process does.
 */
import { appendAudit } from '../core/audit.js';
import { DEFAULT_GUARD, type GuardEvent, type GuardOptions } from '../core/guard.js';
import { watchNotifications } from '../core/notify-watch.js';
import { watchRetention } from '../core/retention.js';
import type { Clock } from '../core/types.js';
import { watchUnusedPasscodes } from '../core/unused-expiry.js';
import type { Config } from '../config/types.js';
import { imapNotificationSink } from '../protocols/imap/notify-sink.js';
import type { Store } from '../store/types.js';
import type { Logger } from './logger.js';

const GUARD_MESSAGES: Record<GuardEvent['type'], string> = {
  'abuse.block': 'source blocked after repeated login failures',
  'abuse.account-ceiling': 'account under attack: refusing new sources for it',
  'abuse.unblock': 'block lifted',
  'abuse.table-full': 'brute-force table full of blocked sources: refusing new sources until a block ends',
};

/** The guard's options as `auth` configures them. */
export function guardOptionsFor(config: Readonly<Config>): GuardOptions {
  const t = config.auth.throttle;
  return {
    ...DEFAULT_GUARD,
    baseDelayMs: config.auth.failureDelayMs,
    maxDelayMs: Math.max(t.maxDelayMs, config.auth.failureDelayMs),
    blockAfter: t.blockAfter,
    blockForMs: t.blockForMs,
    windowMs: t.windowMs,
    accountCeiling: t.accountCeiling,
  };
}

/** A guard event as every serving process reports it: a log line, a metric, an audit event. */
export function guardEventReporter(deps: {
  log: Logger;
  store: Store;
  clock: Clock;
  count?: (e: GuardEvent) => void;
}): (e: GuardEvent) => void {
  return (e) => {
    deps.log.warn(e, GUARD_MESSAGES[e.type]);
    deps.count?.(e);
    const username = e.type === 'abuse.account-ceiling' ? e.account : null;
    appendAudit(deps.store, deps.clock, {
      type: e.type,
      username,
      ip: 'source' in e ? e.source : null,
      outcome: 'ok',
      detail: { ...e },
    }).catch((err: Error) => deps.log.error({ err: err.message }, 'cannot write the audit log'));
  };
}

/** Notices are APPENDed through the IMAP master login: only sasl-proxy and separator have one. */
export function canAppendNotices(config: Readonly<Config>): boolean {
  const method = config.imap?.upstream.auth.method;
  return method === 'sasl-proxy' || method === 'separator';
}

/** Starts the notice follower, audit retention and the unused-passcode sweep; returns their stop. */
export function startRunOnceJobs(config: Readonly<Config>, store: Store, clock: Clock, log: Logger): () => void {
  const stops = [startNotices(config, store, log)];
  const retentionMs = config.audit.retentionMs;
  if (retentionMs !== null) {
    stops.push(
      watchRetention({
        store,
        clock,
        retentionMs,
        onPruned: (removed) => log.info({ removed, retentionMs }, 'audit events past the retention deleted'),
        onError: (e) => log.error({ err: e.message }, 'audit retention pruning failed'),
      }),
    );
  }
  const expireUnusedMs = config.passcodes.expireUnusedMs;
  if (expireUnusedMs !== null) {
    stops.push(
      watchUnusedPasscodes({
        store,
        clock,
        expireUnusedMs,
        onError: (e) => log.error({ err: e.message }, 'unused passcode sweep failed'),
      }),
    );
  }
  return () => {
    for (const stop of stops) stop();
  };
}

/**
 * Security notices into the owner's INBOX (core/notify.ts), delivered with the IMAP master login.
 * Without one there is no way in to the mailbox: said once at start, not on every event.
 */
function startNotices(config: Readonly<Config>, store: Store, log: Logger): () => void {
  if (!config.notify.enabled) return () => {};
  if (!config.imap || !canAppendNotices(config)) {
    log.info(
      'security notifications off: they are APPENDed through the IMAP master login (imap.upstream.auth sasl-proxy or separator), and there is none',
    );
    return () => {};
  }
  return watchNotifications({
    store,
    sink: imapNotificationSink(config.imap.upstream),
    settings: { from: config.notify.from, portalUrl: config.portal?.publicUrl ?? null },
    onDelivered: (i) => log.info({ account: i.account, event: i.type, auditId: i.eventId }, 'security notice delivered'),
    // Never the message: the stage and the upstream's answer are what the admin needs.
    onDeliveryError: (err, i) =>
      log.warn(
        {
          account: i.account,
          event: i.type,
          auditId: i.eventId,
          stage: (err as Error & { stage?: string }).stage ?? 'unknown',
          err: err.message,
        },
        'security notice not delivered',
      ),
    onError: (e) => log.error({ err: e.message }, 'notification watch failed'),
  });
}
