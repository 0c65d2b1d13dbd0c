/**
 * The end of every successful login: register the live session (so revocation, expiry and policy
 * changes can end it, core/livepolicy.ts) and splice the client to the logged-in upstream, handing
 * over the bytes either side sent beyond the login (a client's pipelined commands go upstream).
 */
import type { Socket } from 'node:net';
import type { SessionRegistry } from '../../core/sessions.js';
import type { Protocol } from '../../core/types.js';
import type { Logger } from '../../runtime/logger.js';
import { ringOf } from '../../net/reads.js';
import { splice } from '../../net/splice.js';
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
   * The protocol's last line when mailgate ends the session (null: just close). For
   * 'upstream-lost' it is given the upstream's last chunk, to stay silent when the upstream said
   * goodbye itself.
   */
  goodbye?: (reason: EndReason, lastFromUpstream: Buffer | null) => string | null;
}

/** The registry's close reasons (core/sessions.ts callers) in the protocols' terms. */
export function endReason(reason: string): EndReason {
  if (reason === 'shutdown') return 'shutdown';
  if (reason === 'passcode revoked') return 'revoked';
  if (reason === 'passcode expired') return 'expired';
  return 'policy';
}

/** Splices and registers; the session unregisters itself when either side closes. */
export function handOff(h: HandOff): void {
  const { decision } = h;
  const goodbye = h.goodbye;
  const sp = splice(
    h.client.socket,
    h.upstream.socket,
    { toUpstream: h.client.rest, toClient: h.upstream.rest },
    goodbye ? { farewell: (last) => goodbye('upstream-lost', last) } : {},
  );
  const passcodeId = decision.kind === 'accept-passcode' ? decision.passcodeId : null;
  const unregister = h.sessions.register({
    id: h.id,
    account: decision.account,
    passcodeId,
    protocol: h.protocol,
    remoteIp: h.remoteIp,
    since: h.now(),
    expiresAt: decision.kind === 'accept-passcode' ? decision.expiresAt : null,
    close: (reason) => {
      h.log.info({ reason }, 'session ended by mailgate');
      const line = goodbye?.(endReason(reason), null);
      if (line) sp.end(line);
      else sp.destroy();
    },
  });
  const reads = ringOf(h.upstream.socket) ? 'ring' : 'stream';
  h.log.info({ user: decision.account, via: decision.kind, passcodeId: passcodeId ?? undefined, reads }, 'logged in');
  void sp.done.then((stats) => {
    unregister();
    h.log.info(stats, 'session closed');
  });
}
