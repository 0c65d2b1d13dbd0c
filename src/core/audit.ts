/**
 * The one way an audit event is written: callers name what happened (type, outcome) and whatever
 * they know; every field they do not know is null, and the time comes from the injected clock.
 * Never put a secret in any field: the audit log is kept, exported and shown to admins.
 */
import type { Clock } from './types.js';
import type { AuditEvent, Store } from '../store/types.js';

export type AuditInput = Pick<AuditEvent, 'type' | 'outcome'> & Partial<Omit<AuditEvent, 'id' | 'type' | 'outcome'>>;

/** Appends one event; resolves to its id. */
export function appendAudit(store: Pick<Store, 'appendAudit'>, clock: Clock, e: AuditInput): Promise<number> {
  return store.appendAudit({
    ts: clock.now(),
    username: null,
    protocol: null,
    ip: null,
    passcodeId: null,
    reason: null,
    sessionId: null,
    detail: null,
    ...e,
  });
}
