/**
 * Delivers a security notice into the owner's INBOX: connect to the upstream IMAP server, log in
 * as the account with the master credentials (the same login mailgate does after a passcode),
 * APPEND, LOGOUT. No SMTP involved, so it works where mailgate fronts IMAP only, and the notice
 * cannot be rejected or delayed by spam filters.
 */
import { ImapUpstream, parseCapabilities, UpstreamError } from './upstream.js';
import type { UpstreamConfig } from '../../config/types.js';

/** Why a notice was not delivered; `stage` tells the admin where it failed (never the message). */
export class DeliveryError extends Error {
  constructor(
    readonly stage: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}

/** Upstream answers are quoted in logs: keep them short and on one line. */
const short = (t: string) => t.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);

/** A sink (core/notify-watch.ts NotificationSink) that APPENDs through the upstream master login. */
export function imapNotificationSink(cfg: UpstreamConfig, opts: { timeoutMs?: number } = {}) {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return {
    async deliver(account: string, message: string): Promise<void> {
      let stage = 'connect';
      let up: ImapUpstream | null = null;
      // One deadline for the whole delivery: closing the socket ends whatever read is pending.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        up?.close();
      }, timeoutMs);
      try {
        up = await ImapUpstream.open(cfg);
        if (timedOut) up.close();
        stage = 'login';
        const login = await up.login({ kind: 'master', user: account });
        if (login.status !== 'OK')
          throw new DeliveryError(stage, `the upstream refused the master login: ${login.status} ${short(login.text)}`);
        up.capabilities = parseCapabilities(login.text) ?? up.capabilities; // LITERAL+ may appear only now
        stage = 'append';
        const r = await up.append('INBOX', Buffer.from(message, 'utf8'));
        if (r.status !== 'OK') throw new DeliveryError(stage, `the upstream refused APPEND: ${r.status} ${short(r.text)}`);
        stage = 'logout';
        await up.command('LOGOUT').catch(() => undefined); // delivered already; a rude close is fine
      } catch (e) {
        if (e instanceof DeliveryError) throw e;
        const where = stage === 'connect' && e instanceof UpstreamError ? e.stage : stage;
        throw new DeliveryError(where, timedOut ? `gave up after ${timeoutMs} ms` : (e as Error).message);
      } finally {
        clearTimeout(timer);
        up?.close();
      }
    },
  };
}
