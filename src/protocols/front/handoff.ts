/**
 * The end of every successful login: register the live session (so revocation, expiry and policy
 * changes can end it, core/livepolicy.ts) and splice the client to the logged-in upstream, handing
 * over the bytes either side sent beyond the login (a client's pipelined commands go upstream).
 *
 * An idle session lives for hours, so what it keeps is counted in bytes (issue 12: 20,000 idle
 * TLS sessions within 40 KB each): LiveSplice's few fields and the splice, never `h`, whose login
 * objects (the decision, the bytes handed over, the pre-login session) must be collectable once
 * the splice runs. test/e2e/idle-release.test.ts pins that.
 */
import type { Socket } from 'node:net';
import type { LiveSession, SessionRegistry } from '../../core/sessions.js';
import type { Protocol } from '../../core/types.js';
import type { Logger } from '../../runtime/logger.js';
import { ringOf } from '../../net/reads.js';
import { splice, type Splice, type SpliceOptions, type SpliceStats } from '../../net/splice.js';
import type { Accepted, EndReason } from './types.js';

export interface HandOff {
  id: string;
  protocol: Protocol;
  remoteIp: string;
  decision: Accepted;
  client: { socket: Socket; rest: Buffer };
  upstream: { socket: Socket; rest: Buffer };
  sessions: SessionRegistry;
  log: Logger;
  now: () => number;
  /**
   * The protocol's last line when mailgate ends the session (null: just close). Kept for the
   * session's whole life: it must not capture the pre-login session object.
   */
  goodbye?: (reason: Exclude<EndReason, 'upstream-lost'>) => string | null;
  /**
   * The client's last line when the upstream goes away first, given the tail of the upstream's last
   * chunk (to stay silent when the upstream said goodbye itself). Absent: the client's side just
   * ends, and no tail of the upstream's stream is kept (1 KB less per idle session).
   */
  farewell?: (lastFromUpstream: Buffer | null) => string | null;
}

/** The registry's close reasons (core/sessions.ts callers) in the protocols' terms. */
export function endReason(reason: string): Exclude<EndReason, 'upstream-lost'> {
  if (reason === 'shutdown') return 'shutdown';
  if (reason === 'passcode revoked') return 'revoked';
  if (reason === 'passcode expired') return 'expired';
  return 'policy';
}

/** Splices and registers; the session unregisters itself when either side closes. */
export function handOff(h: HandOff): void {
  const { decision, log } = h;
  const passcodeId = decision.kind === 'accept-passcode' ? decision.passcodeId : null;
  const live = new LiveSplice(h, passcodeId);
  const reads = ringOf(h.upstream.socket) ? 'ring' : 'stream';
  log.info({ user: decision.account, via: decision.kind, passcodeId: passcodeId ?? undefined, reads }, 'logged in');
  live.start(h);
}

/**
 * One spliced session as the registry sees it. A class, so the registry's `close` and the end of
 * the splice are methods, not closures over the login's state.
 */
class LiveSplice implements LiveSession {
  readonly id: string;
  readonly account: string;
  readonly protocol: Protocol;
  readonly remoteIp: string;
  readonly since: number;
  readonly expiresAt: number | null;
  private readonly log: Logger;
  private readonly goodbye: HandOff['goodbye'];
  private sp: Splice | null = null;
  private unregister: (() => void) | null = null;

  constructor(
    h: HandOff,
    readonly passcodeId: string | null,
  ) {
    this.id = h.id;
    this.account = h.decision.account;
    this.protocol = h.protocol;
    this.remoteIp = h.remoteIp;
    this.since = h.now();
    this.expiresAt = h.decision.kind === 'accept-passcode' ? h.decision.expiresAt : null;
    this.log = h.log;
    this.goodbye = h.goodbye;
  }

  start(h: HandOff): void {
    const opts: SpliceOptions = h.farewell ? { farewell: h.farewell } : {};
    // Assigned, not written as `{ closed: … }`: under esbuild's keepNames (tsx, vitest) a named arrow gets a
    // property dictionary of its own, ~250 bytes per idle session.
    opts.closed = (stats) => this.ended(stats);
    this.sp = splice(h.client.socket, h.upstream.socket, { toUpstream: h.client.rest, toClient: h.upstream.rest }, opts);
    this.unregister = h.sessions.register(this);
  }

  close(reason: string): void {
    this.log.info({ reason }, 'session ended by mailgate');
    const line = this.goodbye?.(endReason(reason));
    if (line) this.sp?.end(line);
    else this.sp?.destroy();
  }

  private ended(stats: SpliceStats): void {
    this.unregister?.();
    this.log.info(stats, 'session closed');
  }
}
